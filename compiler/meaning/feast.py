"""What Feast 0.67 accepts and can serve, checked on the spec, located at the offending key.

It also decides, once, which offline stores read the feature views' sources: the plan takes
them from `offline_stores` and the Feast target compiles them, so that the check and the
output cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from compiler import diagnostics as dx
from compiler.diagnostics import Sink
from compiler.load import Path, SourceMap
from compiler.spec.models import FeatureStore, OfflineStore, Project, Source

if TYPE_CHECKING:
    from compiler.meaning import Index

# The source kind each offline store reads (Feast ties a store to its own source class).
READS = {
    "file": "file",
    "dask": "file",
    "duckdb": "file",
    "bigquery": "bigquery",
    "snowflake": "snowflake",
    "redshift": "redshift",
    "postgres": "postgres",
}
# Feast's hybrid offline store routes a feature view by its batch source's proto type
# (feast.data_source._DATA_SOURCE_FOR_OFFLINE_STORE): file sources always to the dask store,
# and PostgreSQLSource, a CUSTOM_SOURCE, to none.
HYBRID_KINDS = frozenset({"file", "bigquery", "snowflake", "redshift"})
HYBRID_STORES = frozenset({"file", "dask", "bigquery", "snowflake", "redshift"})
# Keys a store's Feast config class requires (feast.infra.offline_stores.*Config in 0.67).
REQUIRED = {
    "snowflake": ("database",),
    "redshift": ("cluster_id", "user", "region", "database", "s3_staging_location", "iam_role"),
    "postgres": ("host", "database", "user", "password_env"),
}


@dataclass(frozen=True)
class Batch:
    """Where Feast reads a feature view's history: its source, or a kafka source's batch."""

    name: str
    kind: str
    source: Source  # the view's own source (the kafka one, for a stream)


def batch_name(source: str) -> str:
    """Name of the parquet batch source made for a kafka source that names none."""
    return f"{source}_batch"


def batches(project: Project) -> dict[str, Batch]:
    """Feature view name → where Feast reads its history (views with unknown sources left out)."""
    sources = {s.name: s for s in project.sources}
    found: dict[str, Batch] = {}
    for view in project.features:
        source = sources.get(view.source)
        if source is None:
            continue
        if source.kind != "kafka":
            found[view.name] = Batch(source.name, source.kind, source)
            continue
        named = project.feature_store.batch_sources.get(source.name)
        target = sources.get(named) if named else None
        if target is None or target.kind == "kafka":
            found[view.name] = Batch(batch_name(source.name), "file", source)
        else:
            found[view.name] = Batch(target.name, target.kind, source)
    return found


def explicit_single(store: FeatureStore) -> bool:
    return "offline_store" in store.model_fields_set


def offline_stores(project: Project) -> tuple[OfflineStore, ...]:
    """The offline stores Feast gets: the spec's, else one default store per batch kind used."""
    store = project.feature_store
    if store.offline_stores:
        return tuple(store.offline_stores)
    if explicit_single(store):
        return (store.offline_store,)
    kinds = sorted({b.kind for b in batches(project).values()})
    return tuple(OfflineStore.model_validate({"type": kind}) for kind in kinds) or (OfflineStore(),)


def check_feast(index: Index, smap: SourceMap, sink: Sink) -> Index:
    """Every Feast-related check of the spec; the index passes through."""
    _Feast(index.project, smap, sink).run()
    return index


class _Feast:
    def __init__(self, project: Project, smap: SourceMap, sink: Sink) -> None:
        self.p = project
        self.smap = smap
        self.sink = sink
        self.source_at = {s.name: i for i, s in enumerate(project.sources)}
        self.batches = batches(project)
        self.stores = offline_stores(project)
        self.hybrid = len(self.stores) > 1

    def err(self, message: str, path: Path, hint: str | None = None) -> None:
        self.sink.error(dx.FEAST_UNSUPPORTED, message, self.smap.span(path), hint=hint)

    def run(self) -> None:
        self.entities()
        self.online_views()
        self.batch_sources()
        self.stores_fit()
        self.stores_configured()
        self.one_source_per_retrieval()
        self.online_store()

    def entities(self) -> None:
        for i, entity in enumerate(self.p.entities):
            if len(entity.join_keys) > 1:
                self.err(
                    f"entity '{entity.name}' has {len(entity.join_keys)} join keys; "
                    "Feast 0.67 takes one ('An entity may only have a single join key')",
                    ("entities", i, "join_keys", 1),
                    hint="join on one key column (for example a concatenated key) per entity",
                )

    def online_views(self) -> None:
        """A realtime model reads its features online: Feast serves an offline view as nulls."""
        from compiler.meaning import valid_servings

        views = {v.name: v for v in self.p.features}
        envs = {e.name for e in self.p.environments}
        for i, model in enumerate(self.p.models):
            modes = {s.mode for s in valid_servings(model, envs)}
            if "realtime" not in modes:
                continue
            for j, ref in enumerate(model.features):
                view = views.get(ref.partition(":")[0])
                if view is None or view.online:
                    continue
                self.err(
                    f"realtime model '{model.name}' uses '{ref}' of feature view '{view.name}', "
                    "which is not online (online: false): Feast would serve it as null",
                    ("models", i, "features", j),
                    hint=f"set online: true on feature view '{view.name}', or serve the model "
                    "in batch",
                )

    def batch_sources(self) -> None:
        store = self.p.feature_store
        sources = {s.name: s for s in self.p.sources}
        for kafka, batch in store.batch_sources.items():
            where: Path = ("feature_store", "batch_sources", kafka)
            stream = sources.get(kafka)
            if stream is None or stream.kind != "kafka":
                self.err(f"batch_sources key '{kafka}' is not a kafka source", where)
            target = sources.get(batch)
            if target is None or target.kind == "kafka":
                self.err(
                    f"batch source '{batch}' of '{kafka}' is not a declared non-kafka source",
                    where,
                )
        for i, src in enumerate(self.p.sources):
            if (
                src.kind == "kafka"
                and src.name not in store.batch_sources
                and batch_name(src.name) in sources
            ):
                self.err(
                    f"kafka source '{src.name}' needs the name '{batch_name(src.name)}' for its "
                    "history file",
                    ("sources", i, "name"),
                    hint="name it in feature_store.batch_sources instead",
                )

    def store_path(self, j: int) -> Path:
        store = self.p.feature_store
        if store.offline_stores:
            return ("feature_store", "offline_stores", j, "type")
        return ("feature_store", "offline_store", "type")

    def kind_path(self, batch: Batch) -> Path:
        """The `kind` of the source that decides a batch's kind (the view's own, for kafka)."""
        return ("sources", self.source_at[batch.source.name], "kind")

    def stores_fit(self) -> None:
        """Each view's batch source has a store that reads it; each store reads some source."""
        store = self.p.feature_store
        if store.offline_stores and explicit_single(store):
            self.err(
                "set feature_store.offline_store (one store) or offline_stores (one per source "
                "kind), not both",
                ("feature_store", "offline_stores"),
            )
        readable = {READS[s.type] for s in self.stores}
        if self.hybrid:
            readable &= HYBRID_KINDS
        shown = ", ".join(s.type for s in self.stores)
        seen: set[str] = set()
        for batch in self.batches.values():
            if batch.name in seen:
                continue
            seen.add(batch.name)
            via = (
                f" (the history of kafka source '{batch.source.name}')"
                if batch.source.kind == "kafka"
                else ""
            )
            if self.hybrid and batch.kind not in HYBRID_KINDS:
                self.err(
                    f"{batch.kind} source '{batch.name}'{via} cannot be read next to other source "
                    "kinds: Feast's hybrid offline store routes only file, bigquery, redshift "
                    "and snowflake sources",
                    self.kind_path(batch),
                    hint="keep the feature views of one project on sources of one kind when "
                    "one of them is postgres",
                )
            elif batch.kind not in readable:
                self.err(
                    f"no offline store reads {batch.kind} source '{batch.name}'{via} "
                    f"(offline stores: {shown})",
                    self.kind_path(batch),
                    hint=f"add a {batch.kind} store to feature_store.offline_stores (one store "
                    "per source kind)",
                )
        if not store.offline_stores and not explicit_single(store):
            return
        kinds = {b.kind for b in self.batches.values()}
        taken: dict[str, int] = {}
        for j, off in enumerate(self.stores):
            kind = READS[off.type]
            if self.hybrid and off.type not in HYBRID_STORES:
                self.err(
                    f"Feast's hybrid offline store cannot use a {off.type} store",
                    self.store_path(j),
                    hint="in a hybrid store, file sources are read by type file",
                )
            elif kind not in kinds and self.batches:
                self.err(
                    f"the {off.type} offline store reads none of the feature views' sources",
                    self.store_path(j),
                    hint="remove it, or point a feature view at a " + kind + " source",
                )
            if kind in taken:
                self.err(
                    f"two offline stores read {kind} sources (entries {taken[kind] + 1} and {j + 1})",
                    self.store_path(j),
                )
            taken.setdefault(kind, j)

    def stores_configured(self) -> None:
        """Settings Feast's config class of a store requires, for declared and default stores."""
        first_of_kind: dict[str, Batch] = {}
        for batch in self.batches.values():
            first_of_kind.setdefault(batch.kind, batch)
        declared = bool(self.p.feature_store.offline_stores) or explicit_single(
            self.p.feature_store
        )
        for j, off in enumerate(self.stores):
            missing = [k for k in REQUIRED.get(off.type, ()) if getattr(off, k) is None]
            if not missing or (self.hybrid and off.type not in HYBRID_STORES):
                continue
            keys = ", ".join(f"'{k}'" for k in missing)
            if declared:
                self.err(f"the {off.type} offline store needs {keys}", self.store_path(j))
            else:
                batch = first_of_kind[READS[off.type]]
                key = "offline_stores" if self.hybrid else "offline_store"
                self.err(
                    f"{off.type} source '{batch.name}' needs a configured {off.type} offline "
                    f"store ({keys})",
                    self.kind_path(batch),
                    hint=f"set feature_store.{key} with type {off.type}",
                )

    def one_source_per_retrieval(self) -> None:
        """Hybrid historical retrieval reads one batch source per call (Feast 0.67)."""
        if not self.hybrid:
            return
        for i, model in enumerate(self.p.models):
            used: dict[str, str] = {}
            for ref in model.features:
                batch = self.batches.get(ref.partition(":")[0])
                if batch is not None:
                    used.setdefault(batch.name, batch.kind)
            if len(used) < 2:
                continue
            listed = ", ".join(f"{name} ({kind})" for name, kind in sorted(used.items()))
            self.sink.warning(
                dx.FEAST_UNSUPPORTED,
                f"model '{model.name}' reads features from {len(used)} sources ({listed}): "
                "Feast's hybrid offline store reads one batch source per "
                "get_historical_features call, so the model's FeatureService cannot build a "
                "training set in one call",
                self.smap.span(("models", i, "features")),
                hint="call get_historical_features once per source with the same entity rows "
                "and join the results, or move these feature views onto one source",
            )

    def online_store(self) -> None:
        online = self.p.feature_store.online_store
        if online.type == "postgres" and not (online.host and online.database):
            self.err(
                "a postgres online store needs 'host' and 'database'",
                ("feature_store", "online_store", "type"),
            )
