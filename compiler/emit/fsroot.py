"""The output folder as a file descriptor: every path below it is resolved without following
symbolic links, so that nothing outside it can be created, changed or removed.

OUT itself is named by the user on the command line and is resolved once, when it is opened
(it may be a link to the real folder). Below OUT, a link, a file where a folder is needed, or
anything but a regular file where a file is read, is reported, never followed.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import stat
import time
from dataclasses import dataclass, field

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: opening a FIFO that slipped in between lstat and open must not hang.
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_NEW_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class Blocked(Exception):
    """A path component below OUT that mlopsc will not go through."""

    def __init__(self, rel: str, reason: str) -> None:
        super().__init__(f"{rel} {reason}")
        self.rel = rel
        self.reason = reason


@dataclass(frozen=True)
class Node:
    """What is at a path below OUT, looked at without following links."""

    kind: str  # missing | file | dir | link | other | blocked
    sha256: str | None = None
    blocker: str = ""  # for blocked: the component in the way
    reason: str = ""  # for blocked: why


def _kind(mode: int) -> str:
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISLNK(mode):
        return "link"
    return "other"


def describe(kind: str) -> str:
    return {
        "dir": "a folder",
        "link": "a symbolic link",
        "other": "a special file (FIFO, socket or device)",
        "file": "a file",
    }.get(kind, kind)


Status = tuple[int, int, int, int, int]  # device, inode, size, mtime ns, ctime ns
# How old a file's change time must be before its status is trusted: longer than the clock tick
# file times are taken from (1 to 10 ms on Linux), and whole seconds on file systems that keep
# whole seconds only (a change time with no fraction of a second).
SETTLE_NS = 20_000_000
COARSE_SETTLE_NS = 2_000_000_000


def status_of(st: os.stat_result) -> Status:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


@dataclass
class StatusMemo:
    """Hashes of files by their status, as git's index keeps them: a file whose device, inode,
    size, modification and change times are what they were when it was hashed (or written) is
    not read again. Any write to a file sets its change time (ctime) to the kernel's clock,
    which no call can set back; a file is remembered only once its ctime is older than the
    clock's tick (SETTLE_NS, or COARSE_SETTLE_NS where file times have whole seconds only), so
    that an edit within the same tick as the hashing cannot go unseen. `seen`: what this run
    hashed, wrote or found unchanged, to be remembered for the next."""

    known: dict[str, tuple[Status, str]] = field(default_factory=dict)
    seen: dict[str, tuple[Status, str]] = field(default_factory=dict)
    root: tuple[str, int, int] | None = None  # the OUT they are of (Root.identity)

    def lookup(self, rel: str, st: os.stat_result) -> str | None:
        hit = self.known.get(rel)
        if hit is not None and hit[0] == status_of(st):
            self.seen[rel] = hit
            return hit[1]
        return None

    def hashed(self, rel: str, st: os.stat_result, sha: str) -> None:
        """rel, with this status, holds content with this hash (remembered once settled)."""
        self.seen.pop(rel, None)
        coarse = st.st_ctime_ns % 1_000_000_000 == 0
        if time.time_ns() - st.st_ctime_ns > (COARSE_SETTLE_NS if coarse else SETTLE_NS):
            self.seen[rel] = (status_of(st), sha)

    def adopt(self, root: tuple[str, int, int]) -> None:
        """Use for the output folder `root`: what was known of another folder is dropped."""
        if self.root != root:
            self.known.clear()
            self.seen.clear()
            self.root = root


def make_folders(real: str) -> list[str]:
    """Create folder `real` and its missing parents; the ones created, outermost first. On
    failure nothing stays created and the OSError is raised."""
    missing: list[str] = []
    here = real
    while not os.path.lexists(here):
        missing.append(here)
        parent = os.path.dirname(here)
        if parent == here:
            break
        here = parent
    made: list[str] = []
    try:
        for folder in reversed(missing):
            os.mkdir(folder)
            made.append(folder)
    except OSError:
        remove_folders(made)
        raise
    return made


def remove_folders(made: list[str]) -> None:
    """Remove the folders make_folders created, innermost first, where they are still empty."""
    for folder in reversed(made):
        try:
            os.rmdir(folder)
        except OSError:
            return


class Root:
    """An open output folder. Paths are relative, '/'-separated and already validated."""

    def __init__(self, path: str, fd: int, made: list[str] | None = None) -> None:
        self.path = path
        self.fd = fd
        self._dirs: dict[str, int] = {"": fd}
        self.memo: StatusMemo | None = None  # hashes known by file status, and learned
        self.made = made or []  # folders Root.open created for OUT, outermost first

    @classmethod
    def open(cls, path: str, *, create: bool) -> Root | None:
        """Open OUT (None when it does not exist and create is False). Folders created for it
        are removed again when it cannot be created after all (a name too long, no space)."""
        real = os.path.realpath(path)
        made = make_folders(real) if create else []
        try:
            fd = os.open(real, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            remove_folders(made)
            if create:
                raise
            return None
        return cls(path, fd, made)

    def close(self) -> None:
        for fd in self._dirs.values():
            os.close(fd)
        self._dirs.clear()

    def lock(self) -> bool:
        """Take the output folder for this build (False when another build holds it)."""
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def dir(self, rel: str, *, create: bool = False, made: list[str] | None = None) -> int | None:
        """The fd of folder rel ('' is OUT); None when missing and not created.

        Raises Blocked for a link or a non-folder on the way; created folders go into `made`."""
        if rel in self._dirs:
            return self._dirs[rel]
        parts = rel.split("/")
        known = len(parts) - 1  # the deepest cached ancestor, walking up without recursion
        while known > 0 and "/".join(parts[:known]) not in self._dirs:
            known -= 1
        parent = self._dirs["/".join(parts[:known])]
        for depth in range(known, len(parts)):
            here = "/".join(parts[: depth + 1])
            opened = self._open_child(parent, parts[depth], here, create=create, made=made)
            if opened is None:
                return None
            self._dirs[here] = parent = opened
        return parent

    def _open_child(
        self, parent: int, name: str, rel: str, *, create: bool, made: list[str] | None
    ) -> int | None:
        try:
            st = os.stat(name, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            if not create:
                return None
            os.mkdir(name, 0o777, dir_fd=parent)
            if made is not None:
                made.append(rel)
            st = os.stat(name, dir_fd=parent, follow_symlinks=False)
        if not stat.S_ISDIR(st.st_mode):
            kind = _kind(st.st_mode)
            raise Blocked(rel, f"is {describe(kind)} where mlopsc needs a folder")
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=parent)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise Blocked(rel, "changed while mlopsc looked at it") from None
            raise

    def forget(self, rel: str) -> None:
        """Drop cached folder fds at and below rel (after it was removed or moved)."""
        for key in [k for k in self._dirs if k == rel or k.startswith(rel + "/")]:
            if key:
                os.close(self._dirs.pop(key))

    def parent(self, rel: str) -> tuple[int | None, str]:
        head, _, name = rel.rpartition("/")
        return self.dir(head), name

    def node(self, rel: str, *, hash_file: bool = True) -> Node:
        """What is at rel; a file is hashed."""
        try:
            parent, name = self.parent(rel)
        except Blocked as exc:
            return Node("blocked", blocker=exc.rel, reason=exc.reason)
        if parent is None:
            return Node("missing")
        try:
            st = os.stat(name, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            return Node("missing")
        kind = _kind(st.st_mode)
        if kind != "file" or not hash_file:
            return Node(kind)
        if self.memo is not None and (sha := self.memo.lookup(rel, st)) is not None:
            return Node("file", sha)
        return Node("file", self._sha(parent, name, rel))

    def _sha(self, parent: int, name: str, rel: str = "") -> str:
        fd = os.open(name, _READ_FLAGS, dir_fd=parent)
        try:
            before = os.fstat(fd)
            if not stat.S_ISREG(before.st_mode):
                raise OSError(errno.EINVAL, "not a regular file", name)
            digest = hashlib.sha256()
            while chunk := os.read(fd, 1 << 20):
                digest.update(chunk)
            sha = digest.hexdigest()
            if self.memo is not None and status_of(os.fstat(fd)) == status_of(before):
                self.memo.hashed(rel, before, sha)  # not changed while it was read
            return sha
        finally:
            os.close(fd)

    def identity(self) -> tuple[str, int, int]:
        """OUT as resolved, with its device and inode (remembered statuses are OUT's own)."""
        st = os.fstat(self.fd)
        return (os.path.realpath(self.path), st.st_dev, st.st_ino)

    def read(self, rel: str, *, limit: int) -> bytes | None:
        """The bytes of regular file rel (None when missing); OSError when it is anything else."""
        parent, name = self.parent(rel)
        if parent is None:
            return None
        try:
            # lstat first: opening a device can have effects, and a link is not followed.
            kind = _kind(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode)
            if kind != "file":
                raise OSError(errno.EINVAL, f"is {describe(kind)}, not a regular file")
            fd = os.open(name, _READ_FLAGS, dir_fd=parent)
        except FileNotFoundError:
            return None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise OSError(errno.EINVAL, "is not a regular file")
            chunks: list[bytes] = []
            size = 0
            while chunk := os.read(fd, 1 << 20):
                size += len(chunk)
                if size > limit:
                    raise OSError(errno.EFBIG, f"is larger than {limit} bytes")
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            os.close(fd)

    def listdir(self, rel: str) -> list[tuple[str, str]]:
        """(name, kind) of the entries of folder rel; [] when it is missing or blocked."""
        try:
            fd = self.dir(rel)
        except Blocked:
            return []
        if fd is None:
            return []
        found: list[tuple[str, str]] = []
        with os.scandir(fd) as entries:
            for entry in entries:
                mode = entry.stat(follow_symlinks=False).st_mode
                found.append((entry.name, _kind(mode)))
        return sorted(found)


def write_new(dir_fd: int, name: str, content: bytes, *, sync: bool) -> None:
    """Create file name in folder dir_fd with content; it must not exist yet."""
    fd = os.open(name, _NEW_FLAGS, 0o666, dir_fd=dir_fd)
    try:
        view = memoryview(content)
        while view:
            view = view[os.write(fd, view) :]
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)
