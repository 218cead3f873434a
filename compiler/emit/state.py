"""The lock file (what mlopsc wrote, committed last) and the journal (what a build is about to
change, written before it touches a file), both read defensively: whoever writes the spec may
also have written these files."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from compiler.artifact import Artifact
from compiler.emit.fsroot import Blocked, Root
from compiler.render.yaml import json_text

LOCK = "mlopsc.lock.json"
JOURNAL = ".mlopsc-journal.json"
STAGE_PREFIX = ".mlopsc-stage-"
READ_LIMIT = 32 << 20  # a lock of 10,000 models is about 10 MB; anything larger is not ours
_SHA = re.compile(r"^[0-9a-f]{64}$")


def reserved(path: str) -> bool:
    """A path mlopsc keeps for its own state (the lock, the journal, staging folders)."""
    first = path.split("/", 1)[0]
    return first in (LOCK, JOURNAL) or first.startswith(STAGE_PREFIX)


class StateError(Exception):
    """The lock file or journal cannot be used; message says why."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path


def safe_path(path: str) -> bool:
    """A path an artifact may have: relative, no empty, '.' or '..' part, no odd character."""
    try:
        Artifact(path, b"")
    except ValueError:
        return False
    return True


Entries = dict[str, tuple[str, str]]  # path → (sha256, target)


@dataclass(frozen=True)
class LockInfo:
    """What the lock file records besides the files."""

    version: str
    spec_path: str
    spec_sha256: str


def lock_content(entries: Entries, info: LockInfo) -> bytes:
    """The lock file's bytes for path → (sha256, target) entries."""
    files = {
        path: {"sha256": sha, "target": target} for path, (sha, target) in sorted(entries.items())
    }
    return json_text(
        {
            "generator": "mlopsc",
            "version": info.version,
            "spec": {"path": info.spec_path, "sha256": info.spec_sha256},
            "files": files,
        }
    )


def _load_json(root: Root, name: str) -> Any:
    """The parsed JSON of regular file name in OUT, or None when it is missing."""
    try:
        data = root.read(name, limit=READ_LIMIT)
    except OSError as exc:
        raise StateError(name, f"cannot read {name}: {exc.strerror or exc}") from None
    except Blocked as exc:  # pragma: no cover - a top-level name has no parent to block
        raise StateError(name, str(exc)) from None
    if data is None:
        return None
    try:
        return json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        detail = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise StateError(name, f"{name} is not valid JSON ({detail})") from None


def _entry_path(name: str, rel: object) -> str:
    if not isinstance(rel, str) or not safe_path(rel):
        raise StateError(name, f"{name} lists an unsafe path {rel!r}")
    return rel


def _sha(name: str, rel: str, value: object, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not _SHA.match(value):
        raise StateError(name, f"{name} has no valid sha256 for {rel}")
    return value


def read_lock(root: Root | None) -> Entries | None:
    """Generated files (path → (sha256, target)) per the lock file, or None when there is none."""
    if root is None:
        return None
    data = _load_json(root, LOCK)
    if data is None:
        return None
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict):
        raise StateError(LOCK, f"{LOCK} has no 'files' table")
    entries: Entries = {}
    for rel, entry in files.items():
        path = _entry_path(LOCK, rel)
        if not isinstance(entry, dict):
            raise StateError(LOCK, f"the {LOCK} entry of {path} is not a table")
        sha = _sha(LOCK, path, entry.get("sha256"))
        assert sha is not None
        entries[path] = (sha, str(entry.get("target", "")))
    return entries


@dataclass(frozen=True)
class Step:
    """One change a build is about to make: old and new sha256 (None: no file) and target."""

    path: str
    old: str | None
    new: str | None
    target: str


def journal_content(steps: list[Step]) -> bytes:
    return json_text(
        {
            "generator": "mlopsc",
            "journal": [
                {"path": s.path, "old": s.old, "new": s.new, "target": s.target} for s in steps
            ],
        }
    )


def read_journal(root: Root) -> list[Step] | None:
    """The steps of an interrupted build, or None when the last build finished."""
    data = _load_json(root, JOURNAL)
    if data is None:
        return None
    items = data.get("journal") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise StateError(JOURNAL, f"{JOURNAL} has no 'journal' list")
    steps: list[Step] = []
    for item in items:
        if not isinstance(item, dict):
            raise StateError(JOURNAL, f"{JOURNAL} has an entry that is not a table")
        path = _entry_path(JOURNAL, item.get("path"))
        old = _sha(JOURNAL, path, item.get("old"), optional=True)
        new = _sha(JOURNAL, path, item.get("new"), optional=True)
        steps.append(Step(path, old, new, str(item.get("target", ""))))
    return steps
