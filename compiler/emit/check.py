"""Check: every difference between OUT and what build would write now, read-only."""

from __future__ import annotations

import hashlib

from compiler.emit.base import IO_FAILED, Artifact, EmitError, Finding, Problem, io_error
from compiler.emit.fsroot import Root, StatusMemo
from compiler.emit.state import (
    JOURNAL,
    LOCK,
    STAGE_PREFIX,
    Entries,
    LockInfo,
    StateError,
    lock_content,
)
from compiler.emit.state import read_lock as _read_lock
from compiler.emit.write import refuse_reserved, unknown_files


def check_outputs(
    out_dir: str,
    artifacts: list[Artifact],
    info: LockInfo,
    *,
    shared: frozenset[str] = frozenset(),
) -> list[Finding]:
    """Every difference between out_dir and what build would write now (`shared`: generated
    folders that legitimately hold other files too)."""
    refuse_reserved(artifacts)
    return check_expected(
        out_dir, {a.path: (a.sha256, a.target) for a in artifacts}, info, shared=shared
    )


def check_expected(
    out_dir: str,
    expected: Entries,
    info: LockInfo,
    *,
    shared: frozenset[str] = frozenset(),
    memo: StatusMemo | None = None,
    lock_sha256: str = "",
) -> list[Finding]:
    """`check_outputs` when only the files' hashes are known (path -> (sha256, target)), as a
    build of the same inputs recorded them (compiler/buildcache.py). `memo`: hashes of files
    of this OUT by their status, which need not be read again; it collects what was hashed.
    `lock_sha256`: the hash of the lock file these entries make, when already known."""
    try:
        root = Root.open(out_dir, create=False)
    except OSError as exc:
        raise io_error("", "open the output folder", exc) from None
    try:
        if root is not None and memo is not None:
            memo.adopt(root.identity())
            root.memo = memo
        return _check(root, expected, info, shared, lock_sha256)
    except StateError as exc:
        raise EmitError([Problem(IO_FAILED, exc.path, str(exc))]) from None
    except OSError as exc:
        raise io_error(exc.filename or "", "read", exc) from None
    finally:
        if root is not None:
            root.close()


def expected_lock_sha256(entries: Entries, info: LockInfo) -> str:
    """The hash of the lock file a build of these entries writes."""
    return hashlib.sha256(lock_content(entries, info)).hexdigest()


def _check(
    root: Root | None, wanted: Entries, info: LockInfo, shared: frozenset[str], lock_sha: str
) -> list[Finding]:
    if root is None:
        return [Finding("missing", p) for p in sorted([LOCK, *wanted])]
    findings: list[Finding] = []
    entries = dict(wanted)
    lock = root.node(LOCK)
    same = lock.kind == "file" and lock.sha256 == (lock_sha or expected_lock_sha256(entries, info))
    if not same and lock_sha:  # the hash handed in may be wrong: never trust it to differ
        same = lock.kind == "file" and lock.sha256 == expected_lock_sha256(entries, info)
    # The lock is exactly what these entries make: it lists them, no need to parse it.
    previous = entries if same else _read_lock(root)
    if previous is None:
        findings.append(Finding("missing", LOCK))
        previous = {}
    elif previous is not entries:
        findings.append(Finding("stale", LOCK))
    for rel, (sha, _) in sorted(wanted.items()):
        node = root.node(rel)
        if node.kind == "missing":
            findings.append(Finding("missing", rel))
        elif node.kind == "blocked":
            findings.append(Finding("blocked", node.blocker))
        elif node.kind != "file":
            findings.append(Finding("blocked", rel))
        elif node.sha256 != sha:
            edited = rel in previous and previous[rel][0] != node.sha256
            findings.append(Finding("edited" if edited else "stale", rel))
    for rel in sorted(set(previous) - set(wanted)):
        node = root.node(rel, hash_file=False)
        if node.kind == "blocked":
            findings.append(Finding("blocked", node.blocker))
        elif node.kind != "missing":
            findings.append(Finding("extra", rel))
    findings += [Finding("unknown", rel) for rel in unknown_files(root, entries, shared)]
    for name, _ in root.listdir(""):
        if name == JOURNAL or name.startswith(STAGE_PREFIX):
            findings.append(Finding("leftover", name))
    unique = {(f.kind, f.path): f for f in findings}
    return sorted(unique.values(), key=lambda f: (f.path, f.kind))
