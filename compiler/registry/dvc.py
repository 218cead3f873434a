"""Resolve DVC-tracked files with DVC's own API (`mlopsc[dvc]`): their md5 as DVC records
it (the .dvc file or dvc.lock of the spec's repository) and, for a model artifact, the URL
of its copy in the default remote. Imported by `mlopsc resolve` only."""

from __future__ import annotations

import os
from typing import Any

from compiler.registry.lock import DataEntry, ModelEntry
from compiler.registry.refs import NotInRegistry, Ref, RegistryDown


def _api() -> Any:
    try:
        import dvc.api
    except ImportError:
        raise RegistryDown(
            "resolving DVC-tracked files needs DVC: pip install 'mlopsc[dvc]'"
        ) from None
    return dvc.api


def _repo(folder: str, path: str) -> tuple[str, str]:
    """The DVC repository holding `path` (relative to the spec's folder), and the path
    relative to that repository's root."""
    from dvc.exceptions import NotDvcRepoError
    from dvc.repo import Repo

    try:
        root = Repo.find_root(folder)
    except NotDvcRepoError:
        raise NotInRegistry(f"{folder} is not inside a DVC repository (dvc init)") from None
    rel = os.path.relpath(os.path.join(folder, path), root).replace(os.sep, "/")
    return root, rel


def dvc_hash(path: str, folder: str) -> tuple[str, str, str]:
    """(md5:<hex>, repository root, path in the repository) of a DVC-tracked path."""
    api = _api()
    from dvc.exceptions import DvcException

    root, rel = _repo(folder, path)
    try:
        fs = api.DVCFileSystem(root)
        info = fs.info(rel)
    except FileNotFoundError:
        raise NotInRegistry(f"no such file in the DVC repository: {rel}") from None
    except DvcException as exc:
        raise RegistryDown(str(exc).splitlines()[0][:300]) from None
    md5 = (info.get("dvc_info") or {}).get("md5") or info.get("md5")
    if not info.get("isdvc") and not (info.get("dvc_info") or {}).get("isdvc"):
        md5 = None
    if not md5:
        raise NotInRegistry(f"{rel} is not tracked by DVC (dvc add it)")
    return f"md5:{md5}", root, rel


def resolve_dvc_data(path: str, folder: str) -> DataEntry:
    """A training-data source's DVC hash."""
    md5, _, _ = dvc_hash(path, folder)
    return DataEntry(path=path, registry="dvc", hash=md5)


def resolve_dvc_artifact(ref: Ref, uri: str, folder: str) -> ModelEntry:
    """A model file kept by DVC: its hash, and where the default remote holds it."""
    from dvc.exceptions import DvcException

    md5, root, rel = dvc_hash(ref.name, folder)
    try:
        url: str | None = str(_api().get_url(rel, repo=root))
    except DvcException:
        url = None  # no remote configured: nothing a serving runtime could download
    return ModelEntry(uri=uri, registry="dvc", version=md5, storage_uri=url, hash=md5)
