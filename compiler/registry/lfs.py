"""Files kept in Git LFS: the sha256 oid of the pointer file git stores (the LFS
specification's `oid sha256:<hex>` line), read from the repository without git-lfs."""

from __future__ import annotations

import os
import re
import subprocess

from compiler.files import FileProblem, read_regular
from compiler.registry.lock import DataEntry, ModelEntry
from compiler.registry.refs import NotInRegistry, Ref

# https://github.com/git-lfs/git-lfs/blob/main/docs/spec.md: a pointer is at most 1024 bytes.
POINTER_MAX = 1024
_OID = re.compile(rb"^oid sha256:([0-9a-f]{64})$", re.M)
_VERSION = re.compile(rb"^version https://git-lfs\.github\.com/spec/v1$", re.M)


def pointer_oid(content: bytes) -> str | None:
    """The sha256 oid of an LFS pointer file's content, or None when it is not a pointer."""
    if len(content) > POINTER_MAX or not _VERSION.search(content):
        return None
    found = _OID.search(content)
    return f"sha256:{found.group(1).decode()}" if found else None


def _pointer(path: str, folder: str) -> bytes:
    """The pointer git holds for `path`: the blob in the index (a checkout with git-lfs
    has the large file in the work tree), else the work-tree file itself."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env["GIT_CONFIG_NOSYSTEM"] = "1"
    try:
        shown = subprocess.run(
            ["git", "-c", "core.fsmonitor=false", "cat-file", "blob", f":./{path}"],
            cwd=folder,
            env=env,
            capture_output=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        shown = None
    if shown is not None and shown.returncode == 0:
        return shown.stdout[: POINTER_MAX + 1]
    try:  # never blocks on a FIFO, never reads a large file whole
        return read_regular(os.path.join(folder, path), limit=POINTER_MAX)
    except FileProblem as exc:
        raise NotInRegistry(f"{path} is not a Git LFS pointer: {exc.reason}") from None


def lfs_oid(path: str, folder: str) -> str:
    oid = pointer_oid(_pointer(path, folder))
    if oid is None:
        raise NotInRegistry(f"{path} is not a Git LFS pointer (git lfs track it, then commit)")
    return oid


def resolve_lfs_artifact(ref: Ref, uri: str, folder: str) -> ModelEntry:
    """A model file kept in Git LFS: its oid is its sha256 digest; LFS gives no storage URI
    a serving runtime downloads from."""
    oid = lfs_oid(ref.name, folder)
    return ModelEntry(uri=uri, registry="lfs", version=oid, digest=oid, hash=oid)


def resolve_lfs_data(path: str, folder: str) -> DataEntry:
    return DataEntry(path=path, registry="lfs", hash=lfs_oid(path, folder))
