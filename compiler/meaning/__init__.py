"""The meaning stage: references resolve, names are unique, values make sense together."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from compiler import diagnostics as dx
from compiler.conventions import JOB_SUFFIXES
from compiler.diagnostics import Sink
from compiler.load import Path, SourceMap
from compiler.meaning.ci import check_ci_values
from compiler.meaning.drift import check_drift_data
from compiler.meaning.feast import check_feast
from compiler.meaning.registry import check_registry
from compiler.meaning.runtimes import RuntimeChecks, promql_problem
from compiler.registry.lock import Lock
from compiler.spec.models import (
    Entity,
    Environment,
    FeatureView,
    Model,
    Project,
    Serving,
    Slo,
    Source,
    Team,
)
from compiler.spec.types import duration_seconds

MIN_SLO_WINDOW = 86400


@dataclass(frozen=True)
class FeatureRef:
    """One resolved `view:field` a model uses."""

    view: str
    field: str
    dtype: str
    pii: bool

    @property
    def ref(self) -> str:
        return f"{self.view}:{self.field}"


@dataclass
class Index:
    """Name → object tables of a validated project, shared by governance and plan."""

    project: Project
    teams: dict[str, Team] = field(default_factory=dict)
    environments: dict[str, Environment] = field(default_factory=dict)
    sources: dict[str, Source] = field(default_factory=dict)
    entities: dict[str, Entity] = field(default_factory=dict)
    views: dict[str, FeatureView] = field(default_factory=dict)
    models: dict[str, Model] = field(default_factory=dict)
    slos: dict[str, Slo] = field(default_factory=dict)
    model_features: dict[str, list[FeatureRef]] = field(default_factory=dict)

    def owner_of(self, obj: Model | Source | FeatureView) -> str:
        return obj.owner or self.project.metadata.owner

    def feature_refs(self) -> list[str]:
        return sorted(
            [v.name for v in self.views.values()]
            + [f"{v.name}:{f.name}" for v in self.views.values() for f in v.fields]
        )

    def resolve_feature(self, ref: str) -> list[FeatureRef] | None:
        """The fields a `view` or `view:field` reference names, or None if it names nothing."""
        view_name, _, field_name = ref.partition(":")
        view = self.views.get(view_name)
        if view is None:
            return None
        fields = [f for f in view.fields if not field_name or f.name == field_name]
        if not fields:
            return None
        return [FeatureRef(view.name, f.name, f.dtype, f.pii) for f in fields]


def _index(project: Project) -> Index:
    index = Index(project)
    tables: list[tuple[dict[str, Any], Iterable[Any]]] = [
        (index.teams, project.teams),
        (index.environments, project.environments),
        (index.sources, project.sources),
        (index.entities, project.entities),
        (index.views, project.features),
        (index.models, project.models),
        (index.slos, project.slos),
    ]
    for table, items in tables:
        for item in items:
            table.setdefault(item.name, item)
    return index


class _Checker(RuntimeChecks):
    def __init__(self, project: Project, smap: SourceMap, sink: Sink) -> None:
        self.p = project
        self.smap = smap
        self.sink = sink
        self.ix = _index(project)

    def err(self, code: str, message: str, path: Path, hint: str | None = None) -> None:
        self.sink.error(code, message, self.smap.span(path), hint=hint)

    def ref(self, code: str, what: str, name: str, table: Iterable[str], path: Path) -> bool:
        pool = list(table)
        if name in pool:
            return True
        hint = dx.suggest(name, pool) or (
            f"declared {what}s: {', '.join(sorted(pool))}" if pool else f"no {what} is declared"
        )
        self.err(code, f"unknown {what} '{name}'", path, hint)
        return False

    def unique(self) -> None:
        sections = ("teams", "environments", "sources", "entities", "features", "models", "slos")
        for section in sections:
            seen: dict[str, int] = {}
            for i, item in enumerate(getattr(self.p, section)):
                if item.name in seen:
                    first = self.smap.span((section, seen[item.name], "name"))
                    self.err(
                        dx.DUPLICATE_NAME,
                        f"{section}: '{item.name}' is declared twice (first at line {first.line})",
                        (section, i, "name"),
                    )
                else:
                    seen[item.name] = i
        # A model's jobs label their pods with their own name as instance (`<project>-<model>-
        # train`), which a model named `<model>-train` would have as its own: its Service and
        # Rollout would select the other model's job pods.
        models = {m.name: i for i, m in enumerate(self.p.models)}
        for model in self.p.models:
            for suffix in JOB_SUFFIXES:
                other = models.get(f"{model.name}-{suffix}")
                if other is not None:
                    self.err(
                        dx.DUPLICATE_NAME,
                        f"model '{model.name}-{suffix}' is named like the {suffix} job of model "
                        f"'{model.name}': its Service and Rollout would select that job's pods",
                        ("models", other, "name"),
                        hint=f"rename it: a model name may not be another's plus -{suffix}",
                    )
        namespaces: dict[str, int] = {}
        for i, env in enumerate(self.p.environments):
            if (
                env.namespace in namespaces
                and self.p.environments[namespaces[env.namespace]].cluster == env.cluster
            ):
                self.err(
                    dx.DUPLICATE_NAME,
                    f"namespace '{env.namespace}' is used by two environments on the same cluster",
                    ("environments", i, "namespace"),
                )
            namespaces.setdefault(env.namespace, i)
        ids: dict[str, int] = {}
        for i, policy in enumerate(self.p.governance.policies):
            if policy.id in ids:
                self.err(
                    dx.DUPLICATE_RULE,
                    f"policy id '{policy.id}' is used twice",
                    ("governance", "policies", i, "id"),
                )
            ids.setdefault(policy.id, i)

    def teams(self) -> None:
        names = self.ix.teams
        self.ref(dx.UNKNOWN_TEAM, "team", self.p.metadata.owner, names, ("metadata", "owner"))
        for section in ("sources", "features", "models"):
            for i, item in enumerate(getattr(self.p, section)):
                if item.owner is not None:
                    self.ref(dx.UNKNOWN_TEAM, "team", item.owner, names, (section, i, "owner"))
        for i, env in enumerate(self.p.environments):
            for j, reviewer in enumerate(env.approval.reviewers):
                self.ref(
                    dx.UNKNOWN_TEAM,
                    "team",
                    reviewer,
                    names,
                    ("environments", i, "approval", "reviewers", j),
                )
        for i, waiver in enumerate(self.p.governance.waivers):
            self.ref(
                dx.UNKNOWN_TEAM,
                "team",
                waiver.approved_by,
                names,
                ("governance", "waivers", i, "approved_by"),
            )

    def sources(self) -> None:
        for i, src in enumerate(self.p.sources):
            base: Path = ("sources", i)
            if src.kind == "file":
                if not src.path:
                    self.err(
                        dx.SOURCE_LOCATION,
                        f"file source '{src.name}' needs a 'path'",
                        (*base, "name"),
                    )
                if src.table:
                    self.err(
                        dx.SOURCE_LOCATION,
                        "a file source has a 'path', not a 'table'",
                        (*base, "table"),
                    )
            else:
                if not src.table:
                    self.err(
                        dx.SOURCE_LOCATION,
                        f"{src.kind} source '{src.name}' needs a 'table'",
                        (*base, "name"),
                    )
                if src.path:
                    self.err(
                        dx.SOURCE_LOCATION,
                        f"a {src.kind} source has a 'table', not a 'path'",
                        (*base, "path"),
                    )
            if src.kind == "kafka" and not src.bootstrap_servers:
                self.err(
                    dx.SOURCE_LOCATION, "a kafka source needs 'bootstrap_servers'", (*base, "name")
                )
            if src.kind != "kafka" and src.bootstrap_servers:
                self.err(
                    dx.SOURCE_LOCATION,
                    "only kafka sources take 'bootstrap_servers'",
                    (*base, "bootstrap_servers"),
                )

    def views(self) -> None:
        for i, view in enumerate(self.p.features):
            base: Path = ("features", i)
            entity_ok = self.ref(
                dx.UNKNOWN_ENTITY, "entity", view.entity, self.ix.entities, (*base, "entity")
            )
            self.ref(dx.UNKNOWN_SOURCE, "source", view.source, self.ix.sources, (*base, "source"))
            reserved: dict[str, str] = {}
            if entity_ok:
                reserved.update(
                    {k: "a join key of its entity" for k in self.ix.entities[view.entity].join_keys}
                )
            src = self.ix.sources.get(view.source)
            if src is not None:
                reserved[src.timestamp_field] = "its source's timestamp field"
            seen: set[str] = set()
            for j, fld in enumerate(view.fields):
                where = (*base, "fields", j, "name")
                if fld.name in seen:
                    self.err(
                        dx.DUPLICATE_NAME,
                        f"field '{fld.name}' appears twice in view '{view.name}'",
                        where,
                    )
                seen.add(fld.name)
                if fld.name in reserved:
                    self.err(dx.FEATURE_FIELD, f"field '{fld.name}' is {reserved[fld.name]}", where)

    def feature_list(self, refs: list[str], path: Path) -> list[FeatureRef]:
        resolved: list[FeatureRef] = []
        for j, ref in enumerate(refs):
            found = self.ix.resolve_feature(ref)
            if found is None:
                hint = dx.suggest(ref, self.ix.feature_refs()) or (
                    "write view:field or view" if self.ix.views else "no feature view is declared"
                )
                self.err(dx.UNKNOWN_FEATURE, f"unknown feature '{ref}'", (*path, j), hint)
                continue
            resolved.extend(f for f in found if f not in resolved)
        return resolved

    def models(self) -> None:
        envs = self.ix.environments
        for i, model in enumerate(self.p.models):
            base: Path = ("models", i)
            used = self.feature_list(model.features, (*base, "features"))
            self.ix.model_features[model.name] = used
            if model.training is not None:
                self.params(model.training.params, (*base, "training", "params"))
                for j, src in enumerate(model.training.data):
                    self.ref(
                        dx.UNKNOWN_SOURCE,
                        "source",
                        src,
                        self.ix.sources,
                        (*base, "training", "data", j),
                    )
            self.serving(model.serving, (*base, "serving"))
            self.kserve(model, base)
            for env_name, override in model.serving.overrides.items():
                opath: Path = (*base, "serving", "overrides", env_name)
                if env_name not in envs:
                    self.sink.error(
                        dx.UNKNOWN_ENV,
                        f"unknown environment '{env_name}' in overrides",
                        self.smap.key_span(opath),
                        hint=dx.suggest(env_name, envs) or f"environments: {', '.join(envs)}",
                    )
                    continue
                merged = self.merged(model.serving, override.model_dump(exclude_unset=True), opath)
                if merged is not None:
                    self.serving(merged, opath, base_path=(*base, "serving"))
            drift = model.monitoring.drift
            if drift is not None:
                dpath: Path = (*base, "monitoring", "drift")
                self.feature_list(drift.features, (*dpath, "features"))
                for j, ref in enumerate(drift.features):
                    found = self.ix.resolve_feature(ref) or []
                    if found and not all(f in used for f in found):
                        self.err(
                            dx.UNKNOWN_FEATURE,
                            f"drift watches '{ref}', which model '{model.name}' does not use",
                            (*dpath, "features", j),
                        )
                if drift.image is None and model.training is None and model.serving.image is None:
                    self.err(
                        dx.DRIFT_IMAGE,
                        "the drift job needs an image: set monitoring.drift.image",
                        dpath,
                    )

    def params(self, params: dict[str, Any], path: Path) -> None:
        """Parameter names become environment variable names, upper-cased: `lr` and `LR` clash."""
        seen: dict[str, str] = {}
        for key in params:
            first = seen.setdefault(key.upper(), key)
            if first != key:
                self.sink.error(
                    dx.DUPLICATE_NAME,
                    f"params '{first}' and '{key}' become the same environment variable",
                    self.smap.key_span((*path, key)),
                    hint="parameter names are case-insensitive",
                )

    def merged(self, base: Serving, override: dict[str, Any], path: Path) -> Serving | None:
        try:
            return _apply_override(base, override)
        except ValidationError as exc:
            for error in exc.errors(include_url=False):
                loc = tuple(str(p) for p in error["loc"] if isinstance(p, str))
                self.err(dx.BAD_VALUE, f"with this override: {error['msg']}", (*path, *loc))
            return None

    def serving(self, s: Serving, path: Path, base_path: Path | None = None) -> None:
        """Cross-field serving checks; for an override, blame the override when it set the key."""

        def at(*keys: str) -> Path:
            probe = (*path, *keys)
            if base_path is None or probe in self.smap.values:
                return probe
            return (*base_path, *keys)

        env = f" (in environment '{path[-1]}')" if base_path is not None else ""
        if s.mode == "batch":
            if s.schedule is None:
                self.err(dx.SERVING_MODE, f"batch serving needs a 'schedule'{env}", at("mode"))
            if s.image is None:
                self.err(dx.SERVING_IMAGE, f"batch serving needs an 'image'{env}", at("mode"))
        else:
            if s.schedule is not None:
                self.err(
                    dx.SERVING_MODE, f"realtime serving takes no 'schedule'{env}", at("schedule")
                )
            if s.runtime == "deployment" and s.image is None:
                self.err(
                    dx.SERVING_IMAGE, f"runtime 'deployment' needs an 'image'{env}", at("runtime")
                )
        if (
            s.mode == "realtime"
            and s.runtime == "kserve"
            and s.request_logging
            and s.request_log_url is None
            # an environment that changes none of these inherits the base's error: said once
            and (base_path is None or any((*path, k) in self.smap.values for k in LOG_KEYS))
        ):
            self.err(
                dx.SERVING_MODE,
                "request_logging on runtime 'kserve' needs 'request_log_url', the service "
                f"KServe's logger posts every request and response to{env}",
                at("request_logging"),
            )
        if s.autoscaling.min_replicas > s.autoscaling.max_replicas:
            self.err(
                dx.REPLICAS,
                f"min_replicas {s.autoscaling.min_replicas} is above max_replicas {s.autoscaling.max_replicas}{env}",
                at("autoscaling", "min_replicas"),
            )
        if s.rollout.strategy == "canary" and s.rollout.canary_percent is None:
            self.err(
                dx.ROLLOUT,
                f"a canary rollout needs 'canary_percent' (1..99){env}",
                at("rollout", "strategy"),
            )
        if s.rollout.strategy == "rolling" and s.rollout.canary_percent is not None:
            self.err(
                dx.ROLLOUT,
                f"'canary_percent' needs strategy 'canary'{env}",
                at("rollout", "canary_percent"),
            )

    def drift_source(self, model: Model, ref: str, found: list[FeatureRef], kpath: Path) -> None:
        """A drift SLI reads the score the model's drift job pushes: the model needs that job,
        watching the feature, with a Pushgateway to push to; otherwise the SLO only ever sees
        no data."""
        drift = model.monitoring.drift
        if drift is None:
            self.err(
                dx.SLI_MISFIT,
                f"a drift SLI reads the score the drift job pushes; model '{model.name}' has no "
                "drift job",
                kpath,
                hint="declare the job under the model's monitoring.drift (features, reference, "
                "current, pushgateway)",
            )
            return
        watched = {
            (f.view, f.field) for r in drift.features for f in self.ix.resolve_feature(r) or ()
        }
        if not all((f.view, f.field) in watched for f in found):
            self.err(
                dx.SLI_MISFIT,
                f"drift SLI on '{ref}', which the drift job of model '{model.name}' does not score",
                (*kpath, "feature"),
                hint=f"add '{ref}' to the model's monitoring.drift.features",
            )
        elif drift.pushgateway is None:
            self.err(
                dx.SLI_MISFIT,
                f"a drift SLI reads the score the drift job pushes; the job of model "
                f"'{model.name}' has no pushgateway, so it pushes nothing",
                kpath,
                hint="set the model's monitoring.drift.pushgateway",
            )

    def slos(self) -> None:
        for i, slo in enumerate(self.p.slos):
            base: Path = ("slos", i)
            if duration_seconds(slo.window) < MIN_SLO_WINDOW:
                # burn-rate windows scale with the SLO window and are floored at minutes: under a
                # day the alerts no longer fire on the share of budget they promise (and under a
                # second the range is no PromQL at all)
                self.err(
                    dx.OUT_OF_RANGE,
                    f"window: '{slo.window}' is shorter than a day",
                    (*base, "window"),
                    hint="SLO windows are usually 28d or 30d",
                )
            if not self.ref(dx.UNKNOWN_MODEL, "model", slo.model, self.ix.models, (*base, "model")):
                continue
            model = self.ix.models[slo.model]
            kind = slo.sli.kind
            kpath: Path = (*base, "sli", kind)
            if kind in ("availability", "latency") and model.serving.mode != "realtime":
                self.err(
                    dx.SLI_MISFIT,
                    f"an {kind} SLI needs a realtime model; '{model.name}' serves in batch"
                    if kind == "availability"
                    else f"a {kind} SLI needs a realtime model; '{model.name}' serves in batch",
                    (*base, "sli", kind),
                )
            if kind == "drift" and slo.sli.drift is not None:
                ref = slo.sli.drift.feature
                found = self.ix.resolve_feature(ref)
                if found is None:
                    self.err(
                        dx.UNKNOWN_FEATURE,
                        f"unknown feature '{ref}'",
                        (*kpath, "feature"),
                        dx.suggest(ref, self.ix.feature_refs()),
                    )
                elif not all(f in self.ix.model_features.get(model.name, []) for f in found):
                    self.err(
                        dx.SLI_MISFIT,
                        f"drift SLI on '{ref}', which model '{model.name}' does not use",
                        (*kpath, "feature"),
                        dx.suggest(
                            ref, [f.ref for f in self.ix.model_features.get(model.name, [])]
                        ),
                    )
                else:
                    self.drift_source(model, ref, found, kpath)
            if kind == "latency" and slo.sli.latency is not None:
                self.latency_bucket(model, slo.sli.latency.threshold, (*kpath, "threshold"))
            if kind == "freshness" and (model.training is None or model.training.schedule is None):
                self.err(
                    dx.SLI_MISFIT,
                    f"a freshness SLI needs a training schedule; model '{model.name}' has none",
                    kpath,
                )
            elif kind == "freshness" and model.training and model.training.runs_on == "ci":
                # The SLI reads the training CronJob's last success (kube-state-metrics): a
                # model trained in CI has no CronJob, so the SLO would never see data.
                self.err(
                    dx.SLI_MISFIT,
                    f"a freshness SLI reads the training CronJob's last success, and model "
                    f"'{model.name}' trains in CI (training.runs_on: ci), which runs no CronJob",
                    kpath,
                    "train on Kubernetes (training.runs_on: kubernetes), or watch the CI "
                    "training with an events SLI",
                )
            if kind == "events" and slo.sli.events is not None:
                for key in ("error_query", "total_query"):
                    problem = promql_problem(getattr(slo.sli.events, key))
                    if problem:
                        self.err(dx.BAD_QUERY, f"{key}: {problem}", (*kpath, key))

    def canary_analysis(self) -> None:
        """A canary of a model with an availability or latency SLO is judged by those SLIs in
        the environment's Prometheus: by Argo Rollouts (runtime deployment), or by
        `mlopsc canary-check` in the promotion to the next environment when that one needs
        approval (a KServe candidate). The spec must say where that Prometheus is."""
        judged = {
            slo.model
            for slo in self.p.slos
            if slo.sli.availability is not None or slo.sli.latency is not None
        }
        envs = self.p.environments
        for i, env in enumerate(envs):
            if env.prometheus_url is not None:
                continue
            promoted = i + 1 < len(envs) and envs[i + 1].approval.required
            rollouts, promotion = [], []
            for model in sorted(self.p.models, key=lambda m: m.name):
                if model.name not in judged:
                    continue
                try:
                    s = merged_serving(model, env.name)
                except ValidationError:
                    continue  # reported with the override
                r = s.rollout
                canary = r.strategy == "canary" and bool(r.canary_percent)
                if s.mode != "realtime" or not canary:
                    continue
                if s.runtime == "deployment":
                    rollouts.append(model.name)
                elif promoted and model.candidate is not None:
                    promotion.append(model.name)
            if rollouts:
                self.err(
                    dx.CANARY_PROMETHEUS,
                    f"environment '{env.name}' needs prometheus_url: Argo Rollouts judges the "
                    f"canary of {_some(rollouts)} by its SLOs, in that Prometheus",
                    ("environments", i, "name"),
                )
            if promotion:
                self.err(
                    dx.CANARY_PROMETHEUS,
                    f"environment '{env.name}' needs prometheus_url: the promotion to "
                    f"'{envs[i + 1].name}' runs `mlopsc canary-check`, which judges the KServe "
                    f"canary of {_some(promotion)} by its SLOs in that Prometheus",
                    ("environments", i, "name"),
                )

    def run(self) -> Index:
        self.unique()
        self.teams()
        self.sources()
        self.views()
        self.models()
        self.slos()
        self.canary_analysis()
        return self.ix


def _some(names: list[str]) -> str:
    """The first three names, then how many more."""
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> None:
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _deep_merge(base[key], value)
        else:
            base[key] = value


def check_meaning(
    project: Project, smap: SourceMap, sink: Sink, *, lock: Lock | None = None
) -> Index:
    """Run every reference and consistency check; return the name tables for later stages.
    `lock` is mlops.lock.yaml beside the spec (None: there is none)."""
    check_registry(project, lock if lock is not None else Lock(), smap, sink)
    check_ci_values(project, smap, sink)
    check_drift_data(project, smap, sink)
    return check_feast(_Checker(project, smap, sink).run(), smap, sink)


LOG_KEYS = ("mode", "runtime", "request_logging")


def valid_servings(model: Model, environments: Iterable[str] | None = None) -> list[Serving]:
    """The model's base serving and its serving in each environment it overrides (only those
    in `environments`, when given). An override that does not validate is left out: the
    checker reports it where it is, and no other check may stop on it."""
    found = [model.serving]
    for env in model.serving.overrides:
        if environments is not None and env not in environments:
            continue
        try:
            found.append(merged_serving(model, env))
        except ValidationError:
            continue
    return found


def merged_serving(model: Model, environment: str) -> Serving:
    """The model's serving for one environment: the base with that environment's override."""
    override = model.serving.overrides.get(environment)
    if override is None:
        return model.serving
    return _apply_override(model.serving, override.model_dump(exclude_unset=True))


# Keys that belong to one value of a key that picks a mode: (where, the mode key) -> mode value
# -> its own keys. When an override switches the mode, the base's keys of the other modes do
# not carry over (a model that canaries in production may roll in dev); a key the override
# sets itself always stays, so that one mapping setting both is still an error.
MODAL_KEYS: dict[tuple[tuple[str, ...], str], dict[str, frozenset[str]]] = {
    ((), "mode"): {
        "batch": frozenset({"schedule"}),
        "realtime": frozenset(
            {
                "port",
                "autoscaling",
                "rollout",
                "request_logging",
                "request_log_url",
                "health_path",
            }
        ),
    },
    (("rollout",), "strategy"): {
        "canary": frozenset({"canary_percent"}),
        "rolling": frozenset(),
    },
}


def _section(data: dict[str, Any], where: tuple[str, ...]) -> dict[str, Any] | None:
    for key in where:
        inner = data.get(key)
        if not isinstance(inner, dict):
            return None
        data = inner
    return data


def _drop_other_modes(data: dict[str, Any], override: dict[str, Any]) -> None:
    """Remove from the base `data` the keys of the modes an override switches away from."""
    for (where, key), modes in MODAL_KEYS.items():
        top = _section(override, where)
        bottom = _section(data, where)
        if top is None or bottom is None or key not in top or top[key] == bottom.get(key):
            continue
        kept = modes.get(top[key], frozenset())
        for mode, keys in modes.items():
            if mode == top[key]:
                continue
            for name in keys - kept:
                if name not in top:
                    bottom.pop(name, None)


def _apply_override(base: Serving, override: dict[str, Any]) -> Serving:
    """The base serving with one environment's override merged in, validated like the base."""
    data = base.model_dump(exclude={"overrides"})
    _drop_other_modes(data, override)
    _deep_merge(data, override)
    return Serving.model_validate(data, strict=False)
