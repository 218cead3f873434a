"""mlops.lock.yaml: what `mlopsc resolve` learned from the registries, read by every other
command instead of the registries.

The lock is data from a file the user's repository holds, so it is read with the spec's own
loader (standard tags only, bounded size and depth) and checked field by field: a broken or
hostile lock is a located error (MLC352), never a traceback. It is written in one fixed
style, sorted, so the same answers from the registries give the same bytes.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from compiler import diagnostics as dx
from compiler.diagnostics import Sink, Span
from compiler.render.yaml import dump

if TYPE_CHECKING:
    from compiler.load import SourceMap
    from compiler.spec.models import Model

LOCK_NAME = "mlops.lock.yaml"
LOCK_VERSION = 1
REGISTRIES = ("mlflow", "dvc", "lfs")

_HASH_RE = re.compile(r"^(sha256:[0-9a-f]{64}|md5:[0-9a-f]{32}(\.dir)?)$")
_DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
_TEXT_RE = re.compile(r"^[^\s\x00-\x1f\x7f]{1,1024}$")
_NAME_RE = re.compile(r"^[a-z0-9][-a-z0-9_]{0,62}$")


@dataclass(frozen=True)
class ModelEntry:
    """One model's artifact as the registry resolved it."""

    uri: str  # what the spec asked for (models:/NAME@ALIAS, dvc://PATH, ...)
    registry: str  # mlflow | dvc | lfs
    version: str  # the concrete version: MLflow's number, else the content hash
    alias: str | None = None
    storage_uri: str | None = None  # where the serving runtime downloads it
    digest: str | None = None  # sha256:<hex>, when the registry reports one
    hash: str | None = None  # the registry's own content hash (md5:… for DVC)


@dataclass(frozen=True)
class DataEntry:
    """A training-data source's files as DVC (or Git LFS) tracks them."""

    path: str
    registry: str
    hash: str


@dataclass(frozen=True)
class Lock:
    """The whole lock; empty when the spec has no lock beside it."""

    models: dict[str, ModelEntry] = field(default_factory=dict)
    data: dict[str, DataEntry] = field(default_factory=dict)
    path: str = LOCK_NAME  # as shown in diagnostics


def lock_path(spec: str) -> str:
    """Where the lock of `spec` lives: beside it."""
    return os.path.join(os.path.dirname(spec), LOCK_NAME)


class _Reader:
    def __init__(self, display: str, smap: Any, sink: Sink) -> None:
        self.display = display
        self.smap = smap
        self.sink = sink
        self.ok = True

    def fail(self, path: tuple[str | int, ...], message: str) -> None:
        self.ok = False
        span = self.smap.span(path) if path else Span(self.display)
        self.sink.error(
            dx.LOCK_INVALID, message, span, hint="run `mlopsc resolve` to write it again"
        )

    def text(
        self,
        item: dict[str, Any],
        key: str,
        path: tuple[str | int, ...],
        *,
        pattern: re.Pattern[str] = _TEXT_RE,
        required: bool = True,
    ) -> str | None:
        value = item.get(key)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not pattern.fullmatch(value):
            shown = "missing" if value is None else "not valid"
            self.fail((*path, key), f"{key} is {shown} in the lock")
            return None
        return value

    def mapping(self, value: Any, path: tuple[str | int, ...], what: str) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(path, f"{what} must be a mapping")
            return {}
        return value


_MODEL_KEYS = frozenset({"uri", "registry", "version", "alias", "storage_uri", "digest", "hash"})
_DATA_KEYS = frozenset({"path", "registry", "hash"})


def _model(r: _Reader, name: str, item: Any) -> ModelEntry | None:
    path: tuple[str | int, ...] = ("models", name)
    if not isinstance(item, dict):
        r.fail(path, f"the entry of model {name} must be a mapping")
        return None
    for key in sorted(set(item) - _MODEL_KEYS):
        r.fail((*path, key), f"unknown key {key!r} in the entry of model {name}")
    uri = r.text(item, "uri", path)
    registry = r.text(item, "registry", path)
    version = r.text(item, "version", path)
    if registry is not None and registry not in REGISTRIES:
        r.fail((*path, "registry"), f"registry must be one of {', '.join(REGISTRIES)}")
    entry = ModelEntry(
        uri or "",
        registry or "",
        version or "",
        alias=r.text(item, "alias", path, required=False),
        storage_uri=r.text(item, "storage_uri", path, required=False),
        digest=r.text(item, "digest", path, pattern=_DIGEST_RE, required=False),
        hash=r.text(item, "hash", path, pattern=_HASH_RE, required=False),
    )
    return entry if None not in (uri, registry, version) else None


def _data(r: _Reader, name: str, item: Any) -> DataEntry | None:
    path: tuple[str | int, ...] = ("data", name)
    if not isinstance(item, dict):
        r.fail(path, f"the entry of source {name} must be a mapping")
        return None
    for key in sorted(set(item) - _DATA_KEYS):
        r.fail((*path, key), f"unknown key {key!r} in the entry of source {name}")
    found = (
        r.text(item, "path", path),
        r.text(item, "registry", path),
        r.text(item, "hash", path, pattern=_HASH_RE),
    )
    if found[1] is not None and found[1] not in REGISTRIES[1:]:
        r.fail((*path, "registry"), "registry of a data source must be dvc or lfs")
    path_, registry, digest = found
    if path_ is None or registry is None or digest is None:
        return None
    return DataEntry(path_, registry, digest)


def read_lock(spec: str, sink: Sink) -> Lock | None:
    """The lock beside `spec` (empty when there is none); None after reporting a broken one."""
    from compiler.load import load_mapping

    where = lock_path(spec)
    if not os.path.lexists(where):
        return Lock()
    loaded = load_mapping(where, sink)
    if loaded is None:
        return None
    data, smap = loaded
    r = _Reader(os.path.normpath(where), smap, sink)
    for key in sorted(set(data) - {"lock_version", "models", "data"}):
        r.fail((key,), f"unknown key {key!r} in the lock")
    if data.get("lock_version") != LOCK_VERSION:
        r.fail(
            ("lock_version",),
            f"lock_version must be {LOCK_VERSION} (this mlopsc reads lock version {LOCK_VERSION})",
        )
    models: dict[str, ModelEntry] = {}
    for name, item in r.mapping(data.get("models"), ("models",), "models").items():
        if not _NAME_RE.fullmatch(name):
            r.fail(("models", name), "not a model name")
            continue
        model = _model(r, name, item)
        if model is not None:
            models[name] = model
    sources: dict[str, DataEntry] = {}
    for name, item in r.mapping(data.get("data"), ("data",), "data").items():
        if not _NAME_RE.fullmatch(name):
            r.fail(("data", name), "not a source name")
            continue
        entry = _data(r, name, item)
        if entry is not None:
            sources[name] = entry
    if not r.ok:
        return None
    return Lock(models, sources, path=os.path.normpath(where))


def dump_lock(lock: Lock, *, spec_name: str) -> str:
    """The lock's text: fixed key order, sorted entries, no timestamps."""
    models: dict[str, Any] = {}
    for name in sorted(lock.models):
        m = lock.models[name]
        entry: dict[str, Any] = {"uri": m.uri, "registry": m.registry}
        if m.alias is not None:
            entry["alias"] = m.alias
        entry["version"] = m.version
        for key, value in (("storage_uri", m.storage_uri), ("digest", m.digest), ("hash", m.hash)):
            if value is not None:
                entry[key] = value
        models[name] = entry
    data = {
        name: {"path": d.path, "registry": d.registry, "hash": d.hash}
        for name, d in sorted(lock.data.items())
    }
    document: dict[str, Any] = {"lock_version": LOCK_VERSION, "models": models}
    if data:
        document["data"] = data
    safe_name = re.sub(r"[^A-Za-z0-9._/-]", "_", spec_name)
    header = (
        f"# Written by `mlopsc resolve` from {safe_name}; do not edit.\n"
        "# build, check, diff and validate read this file and never call a registry.\n"
    )
    return header + dump(document)


def write_lock(path: str, text: str) -> bool:
    """Replace the lock atomically (a temporary file in the same folder, then rename);
    False when it already holds these bytes."""
    content = text.encode("utf-8")
    try:
        with open(path, "rb") as handle:
            if handle.read(len(content) + 1) == content:
                return False
    except FileNotFoundError:
        pass
    folder = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=".mlops.lock.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return True


def check_digest(
    entry: ModelEntry,
    model: Model,
    index: int,
    smap: SourceMap,
    sink: Sink,
    *,
    where: str = "",
    hint: str,
) -> None:
    """models[index].artifact.digest, if the spec sets one, must be the one the registry
    gives; `where` names the source of the registry's answer (", mlops.lock.yaml")."""
    digest = model.artifact.digest
    if digest and entry.digest and digest != entry.digest:
        sink.error(
            dx.REGISTRY_DIGEST,
            f"model {model.name}: the spec's digest {digest} is not the registry's "
            f"{entry.digest} (version {entry.version}{where})",
            smap.span(("models", index, "artifact", "digest")),
            hint=hint,
        )
