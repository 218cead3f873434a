"""Reading input files safely: regular files only, confined to the spec's repository.

Every file mlopsc reads on the user's behalf (the spec, its includes, a metrics file) goes
through `read_regular`, which never blocks on a FIFO or a device and never reads more than a
bound. `include:` entries are resolved by `expand_include`, which keeps them inside the
repository the spec lives in, never follows a symlinked folder, and stops a glob past a bound
on the directory entries it visits.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import re
import stat

from compiler.errors import UsageProblem

MAX_GLOB_ENTRIES = 10_000


class FileProblem(UsageProblem):
    """A file cannot be read as an input; `reason` says why in a few words (exit 2)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"cannot read {path}: {reason}")
        self.path = path
        self.reason = reason


def describe(error: OSError) -> str:
    """An OS error in a few words: 'permission denied', 'no such file'."""
    if error.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if error.errno == errno.ENOENT:
        return "no such file"
    if error.errno == errno.ENOTDIR:
        return "a part of the path is not a folder"
    if error.errno == errno.ELOOP:
        return "too many levels of symbolic links"
    return (error.strerror or str(error)).lower()


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def read_regular(path: str, *, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes, or FileProblem.

    The kind of file is checked on the open descriptor (O_NONBLOCK, so that opening a FIFO
    does not wait for a writer), not by a stat before the open that a swap could defeat.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a socket cannot be opened: say what it is
            check_input(path)
        raise FileProblem(path, describe(exc)) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = _kind(info.st_mode)
            raise FileProblem(
                path, f"{kind}, not a regular file" if kind.startswith("a ") else kind
            )
        if info.st_size > limit:
            raise FileProblem(path, f"larger than {limit // 2**20} MiB")
        chunks: list[bytes] = []
        size = 0
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            size += len(chunk)
            if size > limit:  # the file grew while being read
                raise FileProblem(path, f"larger than {limit // 2**20} MiB")
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise FileProblem(path, describe(exc)) from None
    finally:
        os.close(fd)


def check_input(path: str) -> None:
    """FileProblem unless `path` names a regular file (following symlinks); does not open it."""
    try:
        info = os.stat(path)
    except OSError as exc:
        raise FileProblem(path, describe(exc)) from None
    if not stat.S_ISREG(info.st_mode):
        kind = _kind(info.st_mode)
        raise FileProblem(path, f"{kind}, not a regular file" if kind.startswith("a ") else kind)


def repository_root(start: str) -> str:
    """The git work tree holding the folder `start` (the nearest folder up with a .git), else
    `start` itself (a real path, every symlink resolved).

    Found by looking for `.git` (a folder, or a file in worktrees and submodules) without
    running git, so that reading a spec never runs a program.
    """
    folder = start
    while True:
        if os.path.lexists(os.path.join(folder, ".git")):
            return folder
        parent = os.path.dirname(folder)
        if parent == folder:
            return start
        folder = parent


def inside(path: str, root: str) -> bool:
    """Whether `path`, with every symlink resolved, lies inside the folder `root`."""
    real = os.path.realpath(path)
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


class IncludeProblem(Exception):
    """An include entry that may not be read; the message is the diagnostic's."""

    def __init__(self, message: str, *, too_broad: bool = False) -> None:
        super().__init__(message)
        self.too_broad = too_broad


_MAGIC = re.compile(r"[*?[]")


def expand_include(entry: str, base_dir: str, root: str) -> list[str]:
    """The files an include entry names, sorted, each inside `root`; IncludeProblem else.

    `entry` is a path or glob relative to `base_dir` (an absolute folder). `**` matches any
    number of folders; `*`, `?` and `[...]` match within one name and not a leading dot, as
    in the shell. Symlinked folders are not entered; a symlink to a file is followed only
    when its target is inside `root`.
    """
    if os.path.isabs(entry):
        raise IncludeProblem(
            f"include '{entry}' is an absolute path; name files relative to the spec"
        )
    pattern = os.path.normpath(os.path.join(base_dir, entry))
    parts = pattern.split(os.sep)
    fixed = next((i for i, part in enumerate(parts) if _MAGIC.search(part)), len(parts))
    if fixed == len(parts):
        if not _lexically_inside(pattern, root):
            raise IncludeProblem(f"include '{entry}' leaves the repository")
        if not os.path.lexists(pattern):
            return []
        if not inside(pattern, root):
            raise IncludeProblem(f"include '{entry}' leads out of the repository through a symlink")
        return [pattern]
    start = os.sep.join(parts[:fixed]) or os.sep
    if not _lexically_inside(start, root):
        raise IncludeProblem(f"include '{entry}' leaves the repository")
    if not inside(start, root):
        raise IncludeProblem(f"include '{entry}' leads out of the repository through a symlink")
    found = _walk(start, parts[fixed:], root, entry)
    return sorted(found)


def _lexically_inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _walk(start: str, rest: list[str], root: str, entry: str) -> list[str]:
    """Matches of the glob components `rest` under `start`, breadth first, bounded."""
    visited = 0
    matches: list[str] = []
    states: list[tuple[str, int]] = [(start, 0)]
    seen: set[tuple[str, int]] = set()
    while states:
        folder, index = states.pop()
        if (folder, index) in seen:
            continue
        seen.add((folder, index))
        part = rest[index]
        last = index == len(rest) - 1
        if part == "**":
            if last:
                continue  # `dir/**` names folders, never files
            states.append((folder, index + 1))
        try:
            with os.scandir(folder) as listing:
                entries = list(listing)
        except OSError:
            continue
        for item in entries:
            visited += 1
            if visited > MAX_GLOB_ENTRIES:
                raise IncludeProblem(
                    f"include '{entry}' visits more than {MAX_GLOB_ENTRIES:,} files and folders; "
                    "name a narrower pattern",
                    too_broad=True,
                )
            name = item.name
            hidden = name.startswith(".")
            if part == "**":
                if not hidden and item.is_dir(follow_symlinks=False):
                    states.append((item.path, index))
                continue
            if hidden and not part.startswith("."):
                continue
            if not _MAGIC.search(part):
                if name != part:
                    continue
            elif not fnmatch.fnmatchcase(name, part):
                continue
            if last:
                if not item.is_dir():
                    if not _lexically_inside(item.path, root) or not inside(item.path, root):
                        raise IncludeProblem(
                            f"include '{entry}' matches '{name}', which leads out of the "
                            "repository through a symlink"
                        )
                    matches.append(item.path)
            elif item.is_dir(follow_symlinks=False):
                states.append((item.path, index + 1))
    return matches
