"""What a full build of given inputs writes (path -> sha256, target), remembered on this
machine so that `build` and `check` after no change to the spec cost about what `validate`
costs: they run the front end, find the same inputs, and compare OUT with the remembered
hashes instead of rendering every output again.

The inputs are everything an output depends on: mlopsc's version and the digest of its own
code and templates, the spec and its included files (bytes), and the evaluation date. The
cache lives outside the repository (`$MLOPSC_CACHE_DIR`, else `$XDG_CACHE_HOME/mlopsc`, else
`~/.cache/mlopsc`), never in OUT: whoever writes a pull request also writes the lock file, so
the lock cannot be trusted to say what the outputs should be; this machine's own record of a
render it did can. A cache that cannot be read or written is ignored (the build renders).

A record also keeps, for the output folder last compared with it, each file's status (device,
inode, size, modification and change times) with its hash, as git's index does, so that a
file whose status has not changed is not read and hashed again (compiler/emit/fsroot.py,
StatusMemo, says why that cannot miss an edit).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from compiler import __version__
from compiler.diagnostics import Diagnostic, Severity, Span

KEEP = 32  # entries kept per cache folder, newest first
_SHA = re.compile(r"^[0-9a-f]{64}$")
Entries = dict[str, tuple[str, str]]
Statuses = dict[str, tuple[tuple[int, int, int, int, int], str]]  # path -> (status, sha256)
FolderId = tuple[str, int, int]  # output folder: resolved path, device, inode


@dataclass(frozen=True)
class Record:
    """A full render of some inputs: the files it wrote and what the targets warned of; with
    the statuses of those files in the output folder `root` when they were last hashed."""

    files: Entries
    warnings: list[Diagnostic]
    lock_sha256: str  # the lock file these files make
    info: tuple[str, str, str]  # the lock's version, spec path, spec sha256
    shared: tuple[str, ...]  # generated folders that also hold other files
    statuses: Statuses = field(default_factory=dict)
    root: FolderId | None = None


@functools.cache
def code_digest() -> str:
    """sha256 over mlopsc's own Python files and templates (a changed compiler is new inputs)."""
    package = Path(__file__).resolve().parent
    digest = hashlib.sha256(__version__.encode())
    roots = [package, package.parent / "templates"]
    for root in roots:
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*")):
            if path.suffix in (".py", ".j2") and path.is_file():
                digest.update(path.relative_to(root).as_posix().encode() + b"\0")
                digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def inputs_digest(
    spec: str, spec_sha256: str, as_of: dt.date | None, only: list[str] | None
) -> str:
    """The key of a build: the compiler, the spec (as named, and its bytes), the date, the
    selected targets."""
    key = {
        "code": code_digest(),
        "path": spec,
        "spec": spec_sha256,
        "as_of": as_of.isoformat() if as_of else None,
        "only": sorted(only) if only else None,
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def folder() -> Path:
    """Where this machine keeps the records."""
    explicit = os.environ.get("MLOPSC_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mlopsc"


def load(key: str) -> Record | None:
    """What a build with these inputs wrote, or None when this machine has no record."""
    path = folder() / f"{key}.json"
    try:
        with open(path, "rb") as handle:
            if not os.path.isfile(path):
                return None
            data = json.loads(handle.read(64 << 20))
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or data.get("key") != key:
        return None
    files = data.get("files")
    if not isinstance(files, dict):
        return None
    entries: Entries = {}
    for rel, value in files.items():
        if not (
            isinstance(rel, str)
            and isinstance(value, list)
            and len(value) == 2
            and all(isinstance(v, str) for v in value)
            and _SHA.match(value[0])
        ):
            return None
        entries[rel] = (value[0], value[1])
    warnings: list[Diagnostic] = []
    for item in data.get("warnings", []):
        try:
            code, message, file, line, column, hint = item
            span = Span(str(file), int(line), int(column))
            warnings.append(
                Diagnostic(str(code), Severity.WARNING, str(message), span, hint and str(hint))
            )
        except (TypeError, ValueError):
            return None
    lock_sha, info, shared = data.get("lock"), data.get("info"), data.get("shared")
    remembered = _statuses(data)
    if not (
        isinstance(lock_sha, str)
        and _SHA.match(lock_sha)
        and isinstance(info, list)
        and len(info) == 3
        and all(isinstance(v, str) for v in info)
        and isinstance(shared, list)
        and all(isinstance(v, str) for v in shared)
        and remembered is not None
    ):
        return None
    statuses, root = remembered
    return Record(
        entries, warnings, lock_sha, (info[0], info[1], info[2]), tuple(shared), statuses, root
    )


def _int(value: object) -> bool:
    return type(value) is int and value >= 0


def _statuses(data: dict[str, object]) -> tuple[Statuses, FolderId | None] | None:
    """The remembered statuses and the folder they are of; None when malformed."""
    root, items = data.get("root"), data.get("statuses")
    if root is None and items == {}:
        return {}, None
    if not (
        isinstance(root, list)
        and len(root) == 3
        and isinstance(root[0], str)
        and _int(root[1])
        and _int(root[2])
        and isinstance(items, dict)
    ):
        return None
    statuses: Statuses = {}
    for rel, value in items.items():
        if not (
            isinstance(value, list)
            and len(value) == 6
            and all(_int(v) for v in value[:5])
            and isinstance(value[5], str)
            and _SHA.match(value[5])
        ):
            return None
        statuses[rel] = ((value[0], value[1], value[2], value[3], value[4]), value[5])
    return statuses, (root[0], root[1], root[2])


def store(key: str, record: Record) -> None:
    """Remember what a full render of these inputs produced (best effort, atomic)."""
    where = folder()
    try:
        where.mkdir(parents=True, exist_ok=True)
        text = json.dumps(
            {
                "key": key,
                "files": {p: list(v) for p, v in sorted(record.files.items())},
                "warnings": [
                    [d.code, d.message, d.span.file, d.span.line, d.span.column, d.hint]
                    for d in record.warnings
                ],
                "lock": record.lock_sha256,
                "info": list(record.info),
                "shared": list(record.shared),
                "root": list(record.root) if record.root else None,
                "statuses": {p: [*st, sha] for p, (st, sha) in sorted(record.statuses.items())},
            },
            separators=(",", ":"),
        )
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=where)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, where / f"{key}.json")
        records = sorted(where.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in records[KEEP:]:
            old.unlink(missing_ok=True)
    except OSError:
        return
