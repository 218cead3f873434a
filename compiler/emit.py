"""Emit: artifacts to disk, atomically, with a lock file; and `check` against it.

Only this module touches the output folder. A build writes every file into a staging folder
first, then moves the files into place and writes the lock file last, rolling back if a move
fails; files that mlopsc did not generate are never overwritten or removed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

LOCK = "mlopsc.lock.json"
_SAFE_PART = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9._-]*$")  # .github is fine; . and .. are not


@dataclass(frozen=True)
class Artifact:
    """One generated file: a relative path and its exact bytes."""

    path: str
    content: bytes
    target: str = ""

    def __post_init__(self) -> None:
        parts = self.path.split("/")
        if not parts or any(not _SAFE_PART.match(p) or p in (".", "..") for p in parts):
            raise ValueError(f"unsafe output path {self.path!r}")

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


class EmitError(Exception):
    """A problem writing or checking outputs, with the file it concerns."""

    def __init__(self, code: str, path: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.path = path


@dataclass(frozen=True)
class Finding:
    """One difference between the output folder and what build would write."""

    kind: str  # stale | missing | edited | extra
    path: str


def _dump_yaml(data: Any) -> str:
    from compiler.yamlout import dump

    return dump(data)


def yaml_text(documents: Iterable[Any], *, header: str = "") -> bytes:
    """Several YAML documents in one file, with a fixed style."""
    parts = [_dump_yaml(doc) for doc in documents]
    return (header + "---\n".join(parts)).encode("utf-8")


def json_text(data: Any) -> bytes:
    return (json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False) + "\n").encode("utf-8")


@dataclass(frozen=True)
class LockInfo:
    """What the lock file records besides the files."""

    version: str
    spec_path: str
    spec_sha256: str


def lock_content(entries: dict[str, tuple[str, str]], info: LockInfo) -> bytes:
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


def lock_entries(
    artifacts: list[Artifact],
    previous: dict[str, tuple[str, str]],
    only: set[str] | None,
) -> dict[str, tuple[str, str]]:
    """The new lock's entries; with `only`, other targets' previous files are kept as they were."""
    entries = {a.path: (a.sha256, a.target) for a in artifacts}
    if only is not None:
        for path, (sha, target) in previous.items():
            if target not in only and path not in entries:
                entries[path] = (sha, target)
    return entries


def read_lock(out_dir: str) -> dict[str, tuple[str, str]] | None:
    """Generated files (path → (sha256, target)) per the output folder's lock file, or None."""
    path = os.path.join(out_dir, LOCK)
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise EmitError("MLC406", LOCK, f"cannot read the lock file: {exc}") from None
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict):
        raise EmitError("MLC406", LOCK, "the lock file has no 'files' table")
    safe: dict[str, tuple[str, str]] = {}
    for rel, entry in files.items():
        try:
            Artifact(str(rel), b"")
        except ValueError:
            raise EmitError("MLC406", LOCK, f"the lock file lists an unsafe path {rel!r}") from None
        if not isinstance(entry, dict):
            raise EmitError("MLC406", LOCK, f"the lock file entry of {rel} is not a table")
        safe[str(rel)] = (str(entry.get("sha256", "")), str(entry.get("target", "")))
    return safe


def _file_sha(path: str) -> str | None:
    try:
        with open(path, "rb") as handle:
            return hashlib.sha256(handle.read()).hexdigest()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        return "<dir>"


@dataclass(frozen=True)
class Written:
    """What a build did to the output folder."""

    changed: int
    removed: list[str]
    edited: list[str]  # generated files that had been edited by hand, now overwritten


def write_outputs(
    out_dir: str, artifacts: list[Artifact], info: LockInfo, *, only: set[str] | None = None
) -> Written:
    """Replace the generated files under out_dir."""
    previous = read_lock(out_dir) or {}
    wanted = {a.path: a for a in artifacts}
    entries = lock_entries(artifacts, previous, only)
    for rel in sorted(wanted):
        target = os.path.join(out_dir, rel)
        if os.path.lexists(target) and rel not in previous:
            raise EmitError(
                "MLC401",
                rel,
                f"{os.path.join(out_dir, rel)} exists and was not generated by mlopsc",
            )
        parent = os.path.dirname(rel)
        while parent:
            full = os.path.join(out_dir, parent)
            if os.path.lexists(full) and not os.path.isdir(full):
                raise EmitError("MLC401", parent, f"{full} is a file where mlopsc needs a folder")
            parent = os.path.dirname(parent)
    changed = [
        rel for rel, art in wanted.items() if _file_sha(os.path.join(out_dir, rel)) != art.sha256
    ]
    removed = sorted(set(previous) - set(entries))
    edited = sorted(
        rel
        for rel in [*changed, *removed]
        if rel in previous
        and (sha := _file_sha(os.path.join(out_dir, rel))) is not None
        and sha != previous[rel][0]
    )
    os.makedirs(out_dir, exist_ok=True)
    stage = tempfile.mkdtemp(prefix=".mlopsc-stage-", dir=out_dir)
    try:
        for rel in changed:
            path = os.path.join(stage, "new", rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as handle:
                handle.write(wanted[rel].content)
        _swap(out_dir, stage, sorted(changed), removed, lock_content(entries, info))
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    _prune_dirs(out_dir, removed)
    return Written(len(changed), removed, edited)


def _swap(out_dir: str, stage: str, new: list[str], stale: list[str], lock: bytes) -> None:
    """Move staged files into place, keeping the old ones until every move succeeded."""
    backup = os.path.join(stage, "old")
    fresh = set(new)
    moved: list[tuple[str, str | None]] = []  # (rel, backup path or None when new)
    try:
        for rel in [*new, *stale, LOCK]:
            target = os.path.join(out_dir, rel)
            saved: str | None = None
            if os.path.lexists(target):
                saved = os.path.join(backup, rel)
                os.makedirs(os.path.dirname(saved), exist_ok=True)
                os.replace(target, saved)
            moved.append((rel, saved))
            if rel in fresh:
                os.makedirs(os.path.dirname(target), exist_ok=True)
                os.replace(os.path.join(stage, "new", rel), target)
            elif rel == LOCK:
                with open(target, "wb") as handle:
                    handle.write(lock)
    except OSError as exc:
        for rel, saved in reversed(moved):
            target = os.path.join(out_dir, rel)
            if os.path.lexists(target):
                os.remove(target)
            if saved is not None:
                os.replace(saved, target)
        raise EmitError("MLC406", rel, f"could not write {rel}: {exc.strerror}") from None


def _prune_dirs(out_dir: str, removed: list[str]) -> None:
    for rel in removed:
        parent = os.path.dirname(rel)
        while parent:
            full = os.path.join(out_dir, parent)
            try:
                os.rmdir(full)
            except OSError:
                break
            parent = os.path.dirname(parent)


def check_outputs(out_dir: str, artifacts: list[Artifact], info: LockInfo) -> list[Finding]:
    """Every difference between out_dir and what build would write now."""
    previous = read_lock(out_dir)
    findings: list[Finding] = []
    if previous is None:
        findings.append(Finding("missing", LOCK))
        previous = {}
    else:
        lock = lock_content(lock_entries(artifacts, previous, None), info)
        if _file_sha(os.path.join(out_dir, LOCK)) != hashlib.sha256(lock).hexdigest():
            findings.append(Finding("stale", LOCK))
    wanted = {a.path: a for a in artifacts}
    for rel, art in sorted(wanted.items()):
        on_disk = _file_sha(os.path.join(out_dir, rel))
        if on_disk is None:
            findings.append(Finding("missing", rel))
        elif on_disk != art.sha256:
            edited = rel in previous and previous[rel][0] != on_disk
            findings.append(Finding("edited" if edited else "stale", rel))
    for rel in sorted(set(previous) - set(wanted)):
        if _file_sha(os.path.join(out_dir, rel)) is not None:
            findings.append(Finding("extra", rel))
    return findings
