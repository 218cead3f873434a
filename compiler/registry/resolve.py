"""`mlopsc resolve`: ask each registry the spec names, and compute the new lock.

Nothing is written here; the CLI writes the lock only when every reference resolved, so a
registry that is down, or a model or alias it does not know, leaves the lock as it was.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from compiler import diagnostics as dx
from compiler.diagnostics import Sink
from compiler.load import SourceMap
from compiler.registry.lock import DataEntry, Lock, ModelEntry, check_digest
from compiler.registry.refs import NotInRegistry, RegistryDown, parse_ref
from compiler.spec.models import Project

TRACKING_ENV = "MLFLOW_TRACKING_URI"


class ResolveDown(Exception):
    """A registry could not be asked (down, no client installed, no tracking URI): exit 2."""


@dataclass(frozen=True)
class Change:
    """What moved for one model or source since the previous lock."""

    name: str
    text: str


def version_change(name: str, old: ModelEntry | None, new: ModelEntry) -> str | None:
    """`credit-risk 1 -> 2, alias champion moved`, or None when nothing moved."""
    if old is None:
        return f"{name} {new.uri} -> {new.version} (new)"
    if old.version == new.version and old.uri == new.uri:
        if old.storage_uri != new.storage_uri or old.digest != new.digest:
            return f"{name} {new.version}: storage or digest changed in the registry"
        return None
    text = f"{name} {_short(old.version)} -> {_short(new.version)}"
    if new.alias is not None and old.alias == new.alias and old.uri == new.uri:
        text += f", alias {new.alias} moved"
    elif old.uri != new.uri:
        text += f" ({old.uri} -> {new.uri})"
    return text


def _short(version: str) -> str:
    """A content hash shortened for a line; a version number as it is."""
    kind, sep, digest = version.partition(":")
    return f"{kind}:{digest[:12]}" if sep and len(digest) > 12 else version


def tracking_uri(model_uri: str | None) -> str:
    """The MLflow tracking server: the spec's artifact.tracking_uri, else MLFLOW_TRACKING_URI."""
    uri = model_uri or os.environ.get(TRACKING_ENV, "")
    if not uri:
        raise ResolveDown(
            f"no MLflow tracking server: set {TRACKING_ENV} (or artifact.tracking_uri in the spec)"
        )
    return uri


def resolve_project(project: Project, spec: str, smap: SourceMap, sink: Sink) -> Lock:
    """Ask the registries about every registry reference of the spec; located errors for the
    ones they do not know (the caller then keeps the old lock)."""
    folder = os.path.dirname(os.path.abspath(spec))
    models: dict[str, ModelEntry] = {}
    for i, model in enumerate(project.models):
        ref = parse_ref(model.artifact.uri)
        if ref is None:
            continue
        at = smap.span(("models", i, "artifact", "uri"))
        try:
            if ref.kind == "mlflow":
                from compiler.registry.mlflow import resolve_mlflow

                entry = resolve_mlflow(
                    ref, model.artifact.uri, tracking_uri(model.artifact.tracking_uri)
                )
            elif ref.kind == "dvc":
                from compiler.registry.dvc import resolve_dvc_artifact

                entry = resolve_dvc_artifact(ref, model.artifact.uri, folder)
            else:
                from compiler.registry.lfs import resolve_lfs_artifact

                entry = resolve_lfs_artifact(ref, model.artifact.uri, folder)
        except NotInRegistry as exc:
            sink.error(
                dx.REGISTRY_UNRESOLVED,
                f"model {model.name}: the registry does not know {model.artifact.uri}: {exc}",
                at,
                hint="check the name, version or alias in the registry",
            )
            continue
        except RegistryDown as exc:
            raise ResolveDown(f"{model.name}: cannot ask the registry: {exc}") from None
        hint = "pin the digest the registry reports, or fix the registry"
        check_digest(entry, model, i, smap, sink, hint=hint)
        models[model.name] = entry
    data: dict[str, DataEntry] = {}
    for i, source in enumerate(project.sources):
        if source.dvc is None:
            continue
        from compiler.registry.dvc import resolve_dvc_data

        try:
            data[source.name] = resolve_dvc_data(source.dvc, folder)
        except NotInRegistry as exc:
            sink.error(
                dx.REGISTRY_UNRESOLVED,
                f"source {source.name}: DVC does not track {source.dvc}: {exc}",
                smap.span(("sources", i, "dvc")),
                hint="`dvc add` the file and commit its .dvc file",
            )
        except RegistryDown as exc:
            raise ResolveDown(f"{source.name}: cannot ask DVC: {exc}") from None
    return Lock(models, data)


def changes(old: Lock, new: Lock) -> list[str]:
    """One line per model or source whose resolution moved, sorted by name."""
    lines: list[str] = []
    for name in sorted(new.models):
        line = version_change(name, old.models.get(name), new.models[name])
        if line:
            lines.append(line)
    for name in sorted(set(old.models) - set(new.models)):
        lines.append(f"{name} no longer names a registry")
    for name in sorted(new.data):
        before = old.data.get(name)
        now = new.data[name]
        if before is None or before.hash != now.hash:
            was = _short(before.hash) if before else "(new)"
            lines.append(f"source {name} {was} -> {_short(now.hash)}")
    return lines
