"""Build: replace the generated files under OUT, or leave OUT as it was.

The rules, each tested in tests/test_trust_write.py (see docs/security.md):
- a file is overwritten or removed only when its bytes hash to what mlopsc wrote (per the lock,
  or per the journal of an interrupted build); anything else is kept and reported, unless
  `--force` takes it over;
- nothing outside OUT is touched: paths below OUT are walked with folder descriptors, never
  through a symbolic link;
- every new file is written into a staging folder first; the journal (what is about to change,
  with old and new hashes) is in place before the first file in OUT changes; the lock file,
  renamed into place last, is the commit point; an I/O error rolls every change back.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import secrets
import shutil
import stat
from dataclasses import dataclass

from compiler.emit.base import (
    IO_FAILED,
    OWNERSHIP,
    Artifact,
    EmitError,
    Problem,
    Written,
    io_error,
)
from compiler.emit.fsroot import (
    Blocked,
    Node,
    Root,
    StatusMemo,
    describe,
    remove_folders,
    write_new,
)
from compiler.emit.state import (
    JOURNAL,
    LOCK,
    STAGE_PREFIX,
    Entries,
    LockInfo,
    StateError,
    Step,
    journal_content,
    lock_content,
    read_journal,
    read_lock,
    reserved,
)


def lock_entries(artifacts: list[Artifact], previous: Entries, only: set[str] | None) -> Entries:
    """The new lock's entries; with `only`, other targets' previous files are kept as they were."""
    entries = {a.path: (a.sha256, a.target) for a in artifacts}
    if only is not None:
        for path, (sha, target) in previous.items():
            if target not in only and path not in entries:
                entries[path] = (sha, target)
    return entries


@dataclass
class _Op:
    """One change to OUT: move what is at path aside (if anything), then place new content."""

    path: str
    old: Node
    content: bytes | None = None  # None: remove
    target: str = ""
    sha: str = ""  # of content, when known
    staged: str = ""
    backup: str = ""
    placed: bool = False


def _sync_filesystem(fd: int) -> None:
    """Flush the staged files before the journal and lock name them (syncfs, else sync)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.syncfs(fd) == 0:
            return
    except (OSError, AttributeError):
        pass
    os.sync()


def write_outputs(
    out_dir: str,
    artifacts: list[Artifact],
    info: LockInfo,
    *,
    only: set[str] | None = None,
    force: bool = False,
    shared: frozenset[str] = frozenset(),
    memo: StatusMemo | None = None,
) -> Written:
    """Replace the generated files under out_dir; EmitError leaves out_dir as it was.
    `shared`: generated folders that legitimately hold other files too (not reported).
    `memo`: hashes of OUT's files by status (not read again); on success it holds the status
    and hash of every generated file and the lock, as they now are (see StatusMemo)."""
    try:
        root = Root.open(out_dir, create=True)
    except OSError as exc:
        raise io_error("", "create or open the output folder", exc) from None
    assert root is not None
    try:
        if not root.lock():
            raise EmitError([Problem(IO_FAILED, "", "another mlopsc build is writing this folder")])
        if memo is not None:
            memo.adopt(root.identity())
            root.memo = memo
        return _Build(root, artifacts, info, only=only, force=force, shared=shared).run()
    except OSError as exc:  # looking, before anything changed
        failure = io_error(_relative(root, exc.filename), "read", exc)
        remove_folders(root.made)  # a new OUT and the parents created for it
        raise failure from None
    except EmitError:
        remove_folders(root.made)
        raise
    finally:
        root.close()


def _relative(root: Root, name: object) -> str:
    """A path in an OSError as the user knows it (relative to OUT when it is below it)."""
    return name if isinstance(name, str) and not os.path.isabs(name) else ""


class _Build:
    def __init__(
        self,
        root: Root,
        artifacts: list[Artifact],
        info: LockInfo,
        *,
        only: set[str] | None,
        force: bool,
        shared: frozenset[str],
    ) -> None:
        self.shared = shared
        self.root = root
        self.artifacts = artifacts
        self.info = info
        self.only = only
        self.force = force
        self.problems: list[Problem] = []
        self.edited: list[str] = []

    def node(self, rel: str) -> Node:
        try:
            return self.root.node(rel)
        except OSError as exc:
            raise io_error(rel, "read", exc) from None

    def run(self) -> Written:
        refuse_reserved(self.artifacts)
        try:
            previous = read_lock(self.root) or {}
            journal = read_journal(self.root) or []
        except StateError as exc:
            raise EmitError([Problem(IO_FAILED, exc.path, str(exc))]) from None
        lock_node = self.node(LOCK)
        # What mlopsc itself wrote at each path: the lock's hash, and both hashes of every step
        # of an interrupted build (its files may be old, new, or moved aside).
        known: dict[str, set[str]] = {p: {sha} for p, (sha, _) in previous.items()}
        for step in journal:
            known.setdefault(step.path, set()).update(s for s in (step.old, step.new) if s)
        wanted = {a.path: a for a in self.artifacts}
        entries = lock_entries(self.artifacts, previous, self.only)
        self._adjust_kept(entries, wanted, journal, known)
        ops = self._writes(wanted, known)
        ops += self._removals(previous, journal, entries, known, {op.path for op in ops})
        if self.problems:
            raise EmitError(self.problems)
        lock = lock_content(entries, self.info)
        leftovers = [
            name
            for name, _ in self.root.listdir("")
            if name.startswith(STAGE_PREFIX) or name == JOURNAL
        ]
        up_to_date = lock_node.kind == "file" and lock_node.sha256 == _sha(lock)
        if ops or leftovers or not up_to_date:
            self._apply(ops, lock, journal)
            with contextlib.suppress(OSError):  # committed; the next build finishes cleaning
                self._clean([op.path for op in ops if op.content is None])
        removed = sorted(op.path for op in ops if op.content is None)
        try:
            unknown = unknown_files(self.root, entries, self.shared)
        except OSError:  # committed; check names them
            unknown = []
        self._remember(ops, lock, entries)
        return Written(
            changed=sum(op.content is not None for op in ops),
            removed=removed,
            edited=sorted(self.edited),
            unknown=unknown,
            recovered=bool(leftovers),
        )

    def _remember(self, ops: list[_Op], lock: bytes, entries: Entries) -> None:
        """The status and hash of each file this build wrote (and of the new lock), for the
        next comparison; what it removed or did not keep is forgotten."""
        memo = self.root.memo
        if memo is None:
            return
        written = [(op.path, op.sha or _sha(op.content)) for op in ops if op.content is not None]
        for rel, sha in [*written, (LOCK, _sha(lock))]:
            memo.seen.pop(rel, None)
            try:
                parent, name = self.root.parent(rel)
                st = None
                if parent is not None:
                    st = os.stat(name, dir_fd=parent, follow_symlinks=False)
            except (OSError, Blocked):
                continue  # committed; the next comparison reads it
            if st is not None and stat.S_ISREG(st.st_mode):
                memo.hashed(rel, st, sha)
        for rel in [r for r in memo.seen if r not in entries and r != LOCK]:
            del memo.seen[rel]

    def _adjust_kept(
        self,
        entries: Entries,
        wanted: dict[str, Artifact],
        journal: list[Step],
        known: dict[str, set[str]],
    ) -> None:
        """Under --only, a kept entry that an interrupted build touched records what is there."""
        for step in journal:
            if step.path in entries and step.path not in wanted:
                node = self.node(step.path)
                if node.kind == "file" and node.sha256 in known[step.path]:
                    assert node.sha256 is not None
                    entries[step.path] = (node.sha256, entries[step.path][1])
                elif node.kind == "missing":
                    del entries[step.path]

    def _refuse(self, rel: str, what: str, fix: str) -> None:
        self.problems.append(Problem(OWNERSHIP, rel, f"{rel} {what}; build keeps it: {fix}"))

    def _writes(self, wanted: dict[str, Artifact], known: dict[str, set[str]]) -> list[_Op]:
        ops: list[_Op] = []
        for rel in sorted(wanted):
            art = wanted[rel]
            node = self.node(rel)
            if node.kind == "file" and node.sha256 == art.sha256:
                continue
            op = _Op(rel, node, art.content, art.target, art.sha256)
            if node.kind == "blocked":
                if not self._take_blocker(node, ops, known):
                    continue
            elif node.kind == "file" and node.sha256 not in known.get(rel, set()):
                if not self.force:
                    if rel in known:
                        self._refuse(
                            rel,
                            "was edited by hand (its bytes are not what mlopsc wrote)",
                            "put the change into the spec, or run build --force to overwrite it",
                        )
                    else:
                        self._refuse(
                            rel,
                            "exists and was not generated by mlopsc",
                            "move it away, or run build --force to replace it",
                        )
                    continue
                self.edited.append(rel)
            elif node.kind in ("dir", "link", "other") and not self._may_take(rel, node):
                continue
            ops.append(op)
        return ops

    def _may_take(self, rel: str, node: Node) -> bool:
        """A folder, link or special file where a generated file goes (--force takes it)."""
        if self.force and (node.kind != "dir" or not self.root.listdir(rel)):
            self.edited.append(rel)
            return True
        what = f"is {describe(node.kind)} where mlopsc writes a regular file"
        if node.kind == "dir":
            fix = "move it away (build --force replaces only an empty folder)"
        else:
            fix = "remove it, or run build --force to replace it (links are never followed)"
        self._refuse(rel, what, fix)
        return False

    def _take_blocker(self, node: Node, ops: list[_Op], known: dict[str, set[str]]) -> bool:
        """A link or file where a folder is needed: mlopsc's own file, or with --force anything
        but a folder, is moved aside, once."""
        blocker = self.node(node.blocker)
        own = blocker.kind == "file" and blocker.sha256 in known.get(node.blocker, set())
        if not (own or self.force) or blocker.kind in ("dir", "blocked"):
            self.problems.append(
                Problem(
                    OWNERSHIP,
                    node.blocker,
                    f"{node.blocker} {node.reason}; build never writes through it: "
                    "remove it, or run build --force to replace it with a folder",
                )
            )
            return False
        if not any(op.path == node.blocker for op in ops):
            ops.append(_Op(node.blocker, blocker))
            if not own:
                self.edited.append(node.blocker)
        return True

    def _removals(
        self,
        previous: Entries,
        journal: list[Step],
        entries: Entries,
        known: dict[str, set[str]],
        taken: set[str],
    ) -> list[_Op]:
        candidates = (set(previous) | {s.path for s in journal}) - set(entries) - taken
        ops: list[_Op] = []
        for rel in sorted(candidates):
            node = self.node(rel)
            if node.kind == "missing":
                continue
            if node.kind == "blocked":
                # Nothing of mlopsc's can be below a file; below a link is outside OUT.
                if "symbolic link" in node.reason and not self.force:
                    self.problems.append(
                        Problem(
                            OWNERSHIP,
                            node.blocker,
                            f"{node.blocker} {node.reason}; the lock lists files below it, "
                            "which build will not remove through a link: remove the link, "
                            "or run build --force to forget them",
                        )
                    )
                continue
            if node.kind == "file" and node.sha256 in known.get(rel, set()):
                ops.append(_Op(rel, node))
            elif node.kind == "file":
                if self.force:
                    self.edited.append(rel)
                    ops.append(_Op(rel, node))
                else:
                    self._refuse(
                        rel,
                        "was edited by hand and the spec no longer generates it",
                        "delete it yourself, or run build --force to remove it",
                    )
            elif self._may_take(rel, node):
                ops.append(_Op(rel, node))
        return ops

    def _apply(self, ops: list[_Op], lock: bytes, journal: list[Step]) -> None:
        root = self.root
        try:
            stage = _make_stage(root)
        except OSError as exc:
            raise io_error("", "create a staging folder in", exc) from None
        made: list[str] = []
        current = ""
        stage_fd = -1
        try:
            stage_fd = root.dir(stage) or -1
            for number, op in enumerate(ops):
                if op.content is not None:
                    current = op.path
                    op.staged = f"n{number}"
                    write_new(stage_fd, op.staged, op.content, sync=False)
            current = ""
            _sync_filesystem(stage_fd)
            steps = [
                *journal,
                *(
                    Step(
                        op.path,
                        op.old.sha256,
                        (op.sha or _sha(op.content)) if op.content is not None else None,
                        op.target,
                    )
                    for op in ops
                ),
            ]
            current = JOURNAL
            write_new(stage_fd, "journal", journal_content(steps), sync=True)
            os.replace("journal", JOURNAL, src_dir_fd=stage_fd, dst_dir_fd=root.fd)
            os.fsync(root.fd)
            for number, op in enumerate(ops):
                current = op.path
                self._place(op, number, stage_fd, made)
            current = LOCK
            write_new(stage_fd, "lock", lock, sync=True)
            os.replace("lock", LOCK, src_dir_fd=stage_fd, dst_dir_fd=root.fd)  # the commit
        except (OSError, Blocked) as exc:
            failure = (
                io_error(current, "write", exc)
                if isinstance(exc, OSError)
                else EmitError([Problem(IO_FAILED, exc.rel, f"{exc} (changed during the build)")])
            )
            try:
                self._roll_back(ops, stage_fd, made)
            except OSError as again:
                failure.problems.append(
                    Problem(
                        IO_FAILED,
                        again.filename or current,
                        f"rolling back also failed ({again.strerror}); the next build "
                        f"finishes the job from {JOURNAL}",
                    )
                )
                raise failure from None
            with contextlib.suppress(OSError):
                os.unlink(JOURNAL, dir_fd=root.fd)
            _remove_tree(root, stage)
            raise failure from None
        finally:
            root.forget(stage)
        with contextlib.suppress(OSError):  # committed: a later build recovers from anything
            os.fsync(root.fd)

    def _place(self, op: _Op, number: int, stage_fd: int, made: list[str]) -> None:
        head, _, name = op.path.rpartition("/")
        parent = self.root.dir(head, create=op.content is not None, made=made)
        assert parent is not None
        if op.old.kind not in ("missing", "blocked"):
            os.replace(name, f"o{number}", src_dir_fd=parent, dst_dir_fd=stage_fd)
            op.backup = f"o{number}"
            self.root.forget(op.path)
        if op.content is not None:
            os.replace(op.staged, name, src_dir_fd=stage_fd, dst_dir_fd=parent)
            op.placed = True

    def _roll_back(self, ops: list[_Op], stage_fd: int, made: list[str]) -> None:
        for op in reversed(ops):
            head, _, name = op.path.rpartition("/")
            if not (op.placed or op.backup):
                continue
            parent = self.root.dir(head)
            assert parent is not None
            if op.placed:
                os.unlink(name, dir_fd=parent)
                op.placed = False
            if op.backup:
                os.replace(op.backup, name, src_dir_fd=stage_fd, dst_dir_fd=parent)
                op.backup = ""
        for rel in reversed(made):
            head, _, name = rel.rpartition("/")
            self.root.forget(rel)
            parent = self.root.dir(head)
            assert parent is not None
            os.rmdir(name, dir_fd=parent)

    def _clean(self, removed: list[str]) -> None:
        """After the commit: the journal, staging folders, and folders emptied by removals."""
        root = self.root
        with contextlib.suppress(OSError):
            os.unlink(JOURNAL, dir_fd=root.fd)
        for name, kind in root.listdir(""):
            if name.startswith(STAGE_PREFIX):
                _remove_tree(root, name, kind=kind)
        for rel in removed:
            head = rel.rpartition("/")[0]
            while head:
                parent_rel, _, name = head.rpartition("/")
                root.forget(head)
                try:
                    parent = root.dir(parent_rel)
                    if parent is None:
                        break
                    os.rmdir(name, dir_fd=parent)
                except (OSError, Blocked):
                    break
                head = parent_rel


def refuse_reserved(artifacts: list[Artifact]) -> None:
    """A generated path may not be one of mlopsc's own (a spec setting outputs.github_workflows
    to a staging folder's name would have its files cleaned away)."""
    clash = [a.path for a in artifacts if reserved(a.path)]
    if clash:
        raise EmitError(
            [
                Problem(
                    OWNERSHIP, p, f"{p} is a name mlopsc keeps for its own state; choose another"
                )
                for p in clash
            ]
        )


def _sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def _make_stage(root: Root) -> str:
    while True:
        name = STAGE_PREFIX + secrets.token_hex(6)
        try:
            os.mkdir(name, 0o700, dir_fd=root.fd)
        except FileExistsError:
            continue
        return name


def _remove_tree(root: Root, name: str, *, kind: str = "dir") -> None:
    """Remove a staging folder of OUT's (a link of that name is removed, not followed)."""
    root.forget(name)
    with contextlib.suppress(OSError):
        if kind == "dir":
            shutil.rmtree(name, dir_fd=root.fd)
        else:
            os.unlink(name, dir_fd=root.fd)


def generated_folders(entries: Entries, shared: frozenset[str] = frozenset()) -> list[str]:
    """Folders that hold generated files, never OUT itself nor a `shared` one: a file mlopsc
    did not write there is deployed with them (Argo CD syncs kubernetes/<env>/ as a whole)."""
    return sorted({p.rpartition("/")[0] for p in entries if "/" in p} - shared)


def unknown_files(root: Root, entries: Entries, shared: frozenset[str] = frozenset()) -> list[str]:
    """Files (not folders) in generated folders that mlopsc did not write."""
    found: list[str] = []
    for folder in generated_folders(entries, shared):
        for name, kind in root.listdir(folder):
            rel = f"{folder}/{name}"
            if kind != "dir" and rel not in entries:
                found.append(rel)
    return found
