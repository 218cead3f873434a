"""The plan: the resolved project, per environment, that every target reads.

Defaults are applied, overrides merged and references replaced by the objects they name;
names and label sets are computed once here so that every output agrees by construction.
"""

from __future__ import annotations

import datetime as dt
import os
import posixpath
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from compiler import __version__, conventions
from compiler.conventions import (
    APP_NAME,
    APP_VERSION,
    DEFAULT_CI_IMAGE,
    INSTANCE,
    MANAGED_BY,
    MODEL_LABEL,
    OWNER_LABEL,
    PART_OF,
    RELEASE_BRANCH_PREFIX,
    RISK_LABEL,
    k8s_name,
)
from compiler.governance import (  # re-exported: governance outcomes are part of the plan
    POLICY,
    Governance,
    Outcome,
    Pack,
    RuleSeverity,
    Status,
    WaiverState,
    waiver_state,
)
from compiler.meaning import FeatureRef, Index, merged_serving
from compiler.meaning.feast import batch_name, offline_stores
from compiler.pipeline import Checked
from compiler.render.text import header as render_header
from compiler.slo import BurnWindow, burn_windows
from compiler.spec.models import (  # re-exported: the plan's value types, for targets' hints
    Entity,
    Environment,
    FeatureStore,
    FeatureView,
    Metadata,
    Model,
    OfflineStore,
    Resources,
    Serving,
    Slo,
    Source,
    Team,
    Waiver,
)
from compiler.spec.types import duration_seconds

__all__ = [
    "POLICY",
    "Entity",
    "EnvPlan",
    "Environment",
    "FeatureRef",
    "FeatureStore",
    "FeatureView",
    "Model",
    "ModelPlan",
    "OfflineStore",
    "Outcome",
    "Pack",
    "Plan",
    "ResolvedArtifact",
    "RuleSeverity",
    "Serving",
    "Slo",
    "SloPlan",
    "Source",
    "Status",
    "Team",
    "Waiver",
    "WaiverState",
    "build_plan",
    "k8s_name",
    "waiver_state",
]

SERVING_DEFAULTS = {"cpu": "500m", "memory": "512Mi"}
TRAINING_DEFAULTS = {"cpu": "1", "memory": "2Gi"}
JOB_DEFAULTS = {"cpu": "250m", "memory": "512Mi"}

TrainsOn = Literal["kubernetes", "ci"]
SpecPath = tuple[str | int, ...]  # a key of the spec, for located diagnostics of targets


def dashboard_uid(project: str, model: str) -> str:
    """Stable Grafana uid of a model's dashboard (at most 40 characters)."""
    return k8s_name("mlopsc", project, model, limit=40)


def resources_of(res: Resources, defaults: dict[str, str]) -> dict[str, str]:
    """CPU and memory with defaults filled (limits equal requests: Guaranteed QoS)."""
    return {
        "cpu": res.cpu or defaults["cpu"],
        "memory": res.memory or defaults["memory"],
    }


@dataclass(frozen=True)
class ModelPlan:
    """A model as deployed in one environment."""

    model: Model
    env: Environment
    serving: Serving
    owner: Team
    features: tuple[FeatureRef, ...]
    object_name: str
    labels: dict[str, str]
    selector: dict[str, str]
    trains_here: bool
    spec_path: SpecPath = ()
    # Where the model trains (None: it has no training); the same in every environment.
    trains_on: TrainsOn | None = None
    dashboard_uid: str = ""  # the model's Grafana dashboard (at most 40 characters)
    # Where the serving runtime downloads the artifact: the lock's storage URI for a registry
    # reference, else artifact.uri as written.
    storage_uri: str = ""

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def serving_resources(self) -> dict[str, str]:
        return resources_of(self.serving.resources, SERVING_DEFAULTS)

    @property
    def training_resources(self) -> dict[str, str]:
        assert self.model.training is not None
        return resources_of(self.model.training.resources, TRAINING_DEFAULTS)


@dataclass(frozen=True)
class EnvPlan:
    """One environment: its namespace and the models deployed there."""

    env: Environment
    index: int
    models: tuple[ModelPlan, ...]
    labels: dict[str, str]
    # Model names per Argo CD Application, when the folder is too large for one (see
    # conventions.SHARD_WEIGHT); empty: one Application reads the whole folder.
    shards: tuple[tuple[str, ...], ...] = ()

    @property
    def name(self) -> str:
        return self.env.name

    @property
    def spec_path(self) -> SpecPath:
        return ("environments", self.index)

    @property
    def namespace(self) -> str:
        return self.env.namespace

    @property
    def needs_approval(self) -> bool:
        return self.env.approval.required

    @property
    def pages(self) -> bool:
        """Whether page alerts from here reach a pager (else they open tickets)."""
        return environment_pages(self.env)

    @property
    def release_branch(self) -> str | None:
        """The branch an approval environment syncs from; promotion moves it (None: HEAD)."""
        return f"{RELEASE_BRANCH_PREFIX}{self.env.name}" if self.needs_approval else None


def environment_pages(env: Environment) -> bool:
    """`pages` of an environment, by default whether deploying there needs approval."""
    return env.approval.required if env.pages is None else env.pages


@dataclass(frozen=True)
class ResolvedArtifact:
    """A model's artifact as mlops.lock.yaml resolved it (a registry reference only)."""

    uri: str  # as the spec asks: models:/NAME@ALIAS, dvc://PATH, lfs://PATH
    registry: str  # mlflow | dvc | lfs
    version: str
    alias: str | None
    storage_uri: str | None
    digest: str | None
    hash: str | None


@dataclass(frozen=True)
class SloPlan:
    """An SLO with its model and owner resolved, its durations in seconds and its burn-rate
    window pairs computed once, and the deployments of its model it judges."""

    slo: Slo
    model: Model
    owner: Team
    window: int = 0  # seconds
    windows: tuple[BurnWindow, ...] = ()
    latency_threshold: float | None = None  # seconds
    max_age: float | None = None  # seconds, freshness SLIs
    object_name: str = ""
    dashboard_uid: str = ""
    # The model in each environment where this SLO applies (freshness: where it trains).
    deployments: tuple[ModelPlan, ...] = ()


@dataclass(frozen=True)
class Plan:
    """The resolved project that every target reads."""

    governance: Governance
    name: str
    spec_path: str
    spec_sha256: str
    version: str
    labels: dict[str, str]
    teams: dict[str, Team]
    environments: tuple[EnvPlan, ...]
    models: tuple[Model, ...]
    slos: tuple[SloPlan, ...]
    sources: tuple[Source, ...]
    entities: tuple[Entity, ...]
    views: tuple[FeatureView, ...]
    # The project's own facts, its waivers (spec order) and its include patterns.
    metadata: Metadata
    waivers: tuple[Waiver, ...]
    includes: tuple[str, ...]
    # Lookups by name, built once (a target looping over models must not scan them again).
    models_by_name: dict[str, Model]
    slos_by_model: dict[str, tuple[SloPlan, ...]]
    # Model name -> (environment, the model there) in environment order.
    deployments: dict[str, tuple[tuple[EnvPlan, ModelPlan], ...]]
    model_features: dict[str, tuple[FeatureRef, ...]] = field(default_factory=dict)
    # Model name -> where it trains, for models with `training` (CI and Kubernetes agree).
    trains_on: dict[str, TrainsOn] = field(default_factory=dict)
    # Where outputs go, so that targets never reach back into the spec.
    output_directory: str = "deploy"
    github_workflows: str | None = None
    # The CI/CD systems a full build writes (outputs.ci); `--only` renders others too.
    ci_systems: frozenset[str] = frozenset({"github", "gitlab"})
    revision: str = "HEAD"
    requirement: str | None = None
    # The image GitLab jobs and Cloud Build steps run mlopsc in (outputs.ci_image).
    ci_image: str = DEFAULT_CI_IMAGE
    feature_store: FeatureStore = field(default_factory=FeatureStore)
    view_by_name: dict[str, FeatureView] = field(default_factory=dict)
    entity_by_name: dict[str, Entity] = field(default_factory=dict)
    source_by_name: dict[str, Source] = field(default_factory=dict)
    # The offline stores Feast reads the views' sources with (more than one: the hybrid store).
    offline_stores: tuple[OfflineStore, ...] = ()
    # kafka source → the source Feast reads its history from (declared, or a `<name>_batch` file)
    stream_batches: dict[str, str] = field(default_factory=dict)
    feature_ttls: dict[str, float] = field(default_factory=dict)  # view → ttl in seconds
    # The date documents say rules were evaluated (compiler.pipeline.as_of); None: left out.
    as_of: dt.date | None = None
    # Model → the view:field features its drift job measures (views expanded).
    drift_features: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Model → its artifact as the lock resolved it; source → the DVC hash of its data.
    resolved: dict[str, ResolvedArtifact] = field(default_factory=dict)
    data_hashes: dict[str, str] = field(default_factory=dict)

    def owner(self, name: str | None) -> Team:
        """A team by name; None is the project's default owner."""
        return self.teams[name or self.metadata.owner]

    def owner_name(self, obj: Model | FeatureView | Source) -> str:
        """The team that owns a model, feature view or source (its own, else the default)."""
        return obj.owner or self.metadata.owner

    @property
    def mlopsc_requirement(self) -> str:
        """How generated CI installs mlopsc: the spec's requirement, else this exact version."""
        return self.requirement or f"mlopsc=={self.version}"

    def source_location(self, source: Source) -> str:
        """Where a source's data is, with the DVC hash of its data when DVC tracks it."""
        where = source.path or source.table or ""
        found = self.data_hashes.get(source.name)
        return f"{where} (DVC {found})" if found else where

    def registry_facts(self, model: Model) -> list[tuple[str, str]]:
        """What the lock says of a registry-named artifact, as (label, value) rows for the
        documents: registry, version (and alias), storage URI, digest."""
        r = self.resolved.get(model.name)
        if r is None:
            return []
        names = {"mlflow": "MLflow model registry", "dvc": "DVC", "lfs": "Git LFS"}
        rows = [("Registry", names.get(r.registry, r.registry))]
        version = f"{r.version} (alias {r.alias})" if r.alias else r.version
        rows.append(("Registry version", version))
        if r.storage_uri:
            rows.append(("Storage URI", r.storage_uri))
        if r.digest or r.hash:
            rows.append(("Registry digest", r.digest or r.hash or ""))
        return rows

    def metrics_uri(self, model: Model) -> str:
        """Where a training run writes its evaluation metrics: beside the model artifact.

        A folder artifact (ending in `/`, or a registry `models:/NAME/VERSION`) holds
        `metrics.json`; a file artifact (`gs://b/m/model.onnx`) has it in its folder.
        """
        uri = model.artifact.uri
        if not uri.endswith("/") and not uri.startswith("models:"):
            head, slash, _ = uri.rpartition("/")
            uri = head + slash if slash and not head.endswith("/") else uri + "/"
        return f"{uri.rstrip('/')}/metrics.json"

    def repo_path(self, *parts: str) -> str:
        """A path inside the repository, under the build output folder (outputs.directory)."""
        return posixpath.normpath(posixpath.join(self.output_directory, *parts))

    def header(self, comment: str) -> str:
        """The 'generated, do not edit' header in a format's comment syntax."""
        return render_header(comment, version=self.version, source=self.spec_path)


def expand_features(features: list[str], views: dict[str, FeatureView]) -> tuple[str, ...]:
    """`view` stands for each of its fields: every feature as `view:field`, sorted."""
    out: set[str] = set()
    for ref in features:
        view, _, name = ref.partition(":")
        if name:
            out.add(f"{view}:{name}")
        elif view in views:
            out |= {f"{view}:{f.name}" for f in views[view].fields}
    return tuple(sorted(out))


def label_value(text: str) -> str:
    """A Kubernetes label value: semver build metadata (`+`) is not allowed there."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "_", text)[:63]
    return cleaned.strip("_.-") or "none"


def model_labels(base: dict[str, str], model: Model, owner: str, instance: str) -> dict[str, str]:
    labels = {
        **base,
        INSTANCE: instance,
        APP_NAME: model.name,
        APP_VERSION: label_value(model.version),
        MODEL_LABEL: model.name,
        OWNER_LABEL: owner,
        RISK_LABEL: model.risk,
    }
    return dict(sorted(labels.items()))


def _slo_plan(
    slo: Slo, index: Index, project: str, deployed: dict[str, list[tuple[EnvPlan, ModelPlan]]]
) -> SloPlan:
    model = index.models[slo.model]
    window = int(duration_seconds(slo.window))
    sli = slo.sli
    deployments = tuple(
        mp for _, mp in deployed[model.name] if sli.kind != "freshness" or mp.trains_here
    )
    return SloPlan(
        slo,
        model,
        index.teams[index.owner_of(model)],
        window=window,
        windows=burn_windows(window),
        latency_threshold=duration_seconds(sli.latency.threshold) if sli.latency else None,
        max_age=duration_seconds(sli.freshness.max_age) if sli.freshness else None,
        object_name=k8s_name(project, model.name),
        dashboard_uid=dashboard_uid(project, model.name),
        deployments=deployments,
    )


def _resolved(checked: Checked) -> dict[str, ResolvedArtifact]:
    """Each registry-named artifact with its lock entry (compiler.meaning.registry made sure
    the entries the outputs need are there and are the ones the spec asks for)."""
    found: dict[str, ResolvedArtifact] = {}
    for model in sorted(checked.project.models, key=lambda m: m.name):
        e = checked.lock.models.get(model.name)
        if e is not None and e.uri == model.artifact.uri:
            found[model.name] = ResolvedArtifact(
                e.uri, e.registry, e.version, e.alias, e.storage_uri, e.digest, e.hash
            )
    return found


def shards(
    models: Sequence[ModelPlan], slo_count: Mapping[str, int]
) -> tuple[tuple[str, ...], ...]:
    """The models of an environment in consecutive groups of at most SHARD_WEIGHT (a model
    weighs 1 and each of its SLOs 1 more), or () when they all fit in one."""
    weights = [(mp.name, 1 + slo_count.get(mp.name, 0)) for mp in models]
    if sum(w for _, w in weights) <= conventions.SHARD_WEIGHT:
        return ()
    groups: list[tuple[str, ...]] = []
    current: list[str] = []
    load = 0
    for name, weight in weights:
        if current and load + weight > conventions.SHARD_WEIGHT:
            groups.append(tuple(current))
            current, load = [], 0
        current.append(name)
        load += weight
    groups.append(tuple(current))
    return tuple(groups)


def build_plan(checked: Checked, *, as_of: dt.date | None = None) -> Plan:
    """Resolve the checked spec into the plan."""
    project = checked.project
    resolved = _resolved(checked)
    index = checked.index
    name = project.metadata.name
    base_labels = dict(
        sorted({**project.metadata.labels, MANAGED_BY: "mlopsc", PART_OF: name}.items())
    )
    models = tuple(sorted(project.models, key=lambda m: m.name))
    trains_on: dict[str, TrainsOn] = {
        m.name: m.training.runs_on for m in models if m.training is not None
    }
    model_paths: dict[str, SpecPath] = {m.name: ("models", i) for i, m in enumerate(project.models)}
    features = {m.name: tuple(index.model_features.get(m.name, [])) for m in models}
    first_env = project.environments[0].name
    slo_count = Counter(slo.model for slo in project.slos)
    envs: list[EnvPlan] = []
    for position, env in enumerate(project.environments):
        plans: list[ModelPlan] = []
        for model in models:
            owner = index.owner_of(model)
            object_name = k8s_name(name, model.name)
            labels = model_labels(base_labels, model, owner, object_name)
            plans.append(
                ModelPlan(
                    model=model,
                    env=env,
                    serving=merged_serving(model, env.name),
                    owner=index.teams[owner],
                    features=features[model.name],
                    object_name=object_name,
                    labels=labels,
                    selector={INSTANCE: object_name, PART_OF: name},
                    trains_here=env.name == first_env,
                    spec_path=model_paths[model.name],
                    trains_on=trains_on.get(model.name),
                    dashboard_uid=dashboard_uid(name, model.name),
                    storage_uri=(
                        resolved[model.name].storage_uri or model.artifact.uri
                        if model.name in resolved
                        else model.artifact.uri
                    ),
                )
            )
        envs.append(EnvPlan(env, position, tuple(plans), base_labels, shards(plans, slo_count)))
    deployments: dict[str, list[tuple[EnvPlan, ModelPlan]]] = {m.name: [] for m in models}
    for env_plan in envs:
        for model_plan in env_plan.models:
            deployments[model_plan.name].append((env_plan, model_plan))
    slos = tuple(
        _slo_plan(slo, index, name, deployments)
        for slo in sorted(project.slos, key=lambda s: s.name)
    )
    slos_by_model: dict[str, list[SloPlan]] = {m.name: [] for m in models}
    for slo_plan in slos:
        slos_by_model[slo_plan.model.name].append(slo_plan)
    # The file name only: outputs must not depend on where the spec or OUT live.
    spec_path = os.path.basename(checked.document.path)
    return Plan(
        governance=checked.governance,
        name=name,
        spec_path=spec_path.replace(os.sep, "/"),
        spec_sha256=checked.document.sha256,
        version=__version__,
        labels=base_labels,
        teams=dict(sorted(index.teams.items())),
        environments=tuple(envs),
        models=models,
        slos=slos,
        sources=tuple(sorted(project.sources, key=lambda s: s.name)),
        entities=tuple(sorted(project.entities, key=lambda e: e.name)),
        views=tuple(sorted(project.features, key=lambda v: v.name)),
        metadata=project.metadata,
        waivers=tuple(project.governance.waivers),
        includes=tuple(project.include),
        models_by_name={m.name: m for m in models},
        slos_by_model={k: tuple(v) for k, v in slos_by_model.items()},
        deployments={k: tuple(v) for k, v in deployments.items()},
        model_features=features,
        trains_on=trains_on,
        output_directory=project.outputs.directory,
        github_workflows=project.outputs.github_workflows,
        ci_systems=frozenset(project.outputs.ci),
        revision=project.outputs.revision,
        requirement=project.outputs.mlopsc_requirement,
        ci_image=project.outputs.ci_image or DEFAULT_CI_IMAGE,
        feature_store=project.feature_store,
        view_by_name=dict(sorted(index.views.items())),
        entity_by_name=dict(sorted(index.entities.items())),
        source_by_name=dict(sorted(index.sources.items())),
        offline_stores=offline_stores(project),
        stream_batches={
            s.name: project.feature_store.batch_sources.get(s.name, batch_name(s.name))
            for s in sorted(project.sources, key=lambda s: s.name)
            if s.kind == "kafka"
        },
        feature_ttls={v.name: duration_seconds(v.ttl) for v in project.features},
        as_of=as_of,
        drift_features={
            m.name: expand_features(m.monitoring.drift.features, index.views)
            for m in models
            if m.monitoring.drift is not None
        },
        resolved=resolved,
        data_hashes={
            s.name: checked.lock.data[s.name].hash
            for s in sorted(project.sources, key=lambda s: s.name)
            if s.dvc is not None and s.name in checked.lock.data
        },
    )
