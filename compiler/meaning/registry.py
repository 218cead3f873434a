"""Meaning checks of registry references against mlops.lock.yaml: every reference the
outputs need has an entry, the entry is the one the spec asks for, and digests agree."""

from __future__ import annotations

from typing import TYPE_CHECKING

from compiler import diagnostics as dx
from compiler.registry.lock import check_digest
from compiler.registry.refs import parse_ref, servable

if TYPE_CHECKING:
    from compiler.diagnostics import Sink
    from compiler.load import SourceMap
    from compiler.registry.lock import Lock
    from compiler.spec.models import Model, Project

RESOLVE_HINT = "run `mlopsc resolve` (it asks the registry and writes mlops.lock.yaml)"


def on_kserve(model: Model) -> bool:
    """Whether KServe serves the model in some environment (its storage initializer then
    downloads the artifact, so it needs a storage URI)."""
    from compiler.meaning import valid_servings

    servings = valid_servings(model)
    return any(s.mode == "realtime" and s.runtime == "kserve" for s in servings)


def check_registry(project: Project, lock: Lock | None, smap: SourceMap, sink: Sink) -> None:
    """Registry references without a lock entry, digests that disagree, and storage URIs
    KServe cannot download."""
    if lock is None:
        return  # a broken lock was already reported
    for i, model in enumerate(project.models):
        ref = parse_ref(model.artifact.uri)
        if ref is None:
            continue
        path = ("models", i, "artifact", "uri")
        kserve = on_kserve(model)
        entry = lock.models.get(model.name)
        if entry is None or entry.uri != model.artifact.uri:
            # A fixed MLflow version served by the runtime's own MLflow client needs nothing.
            if ref.kind != "mlflow" or ref.alias is not None or kserve:
                why = "has no entry" if entry is None else f"names {entry.uri}"
                sink.error(
                    dx.REGISTRY_UNRESOLVED,
                    f"model {model.name}: {model.artifact.uri} is a registry reference and "
                    f"{lock.path} {why}",
                    smap.span(path),
                    hint=RESOLVE_HINT,
                )
            continue
        hint = "pin the registry's digest, or run `mlopsc resolve` if the registry changed"
        check_digest(entry, model, i, smap, sink, where=f", {lock.path}", hint=hint)
        if kserve and not (entry.storage_uri and servable(entry.storage_uri)):
            shown = entry.storage_uri or "none"
            sink.error(
                dx.REGISTRY_STORAGE,
                f"model {model.name}: KServe cannot download the storage URI the registry "
                f"gives for {model.artifact.uri} ({shown})",
                smap.span(path),
                hint="register the artifact at s3://, gs://, https:// or pvc://, or serve "
                "with runtime 'deployment'",
            )
    for i, source in enumerate(project.sources):
        if source.dvc is None:
            continue
        data = lock.data.get(source.name)
        if data is None or data.path != source.dvc:
            sink.error(
                dx.REGISTRY_UNRESOLVED,
                f"source {source.name}: {source.dvc} is tracked by DVC and {lock.path} has no "
                "entry for it",
                smap.span(("sources", i, "dvc")),
                hint=RESOLVE_HINT,
            )
