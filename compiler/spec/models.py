"""Pydantic models of every section and key of spec v1 (docs/spec.md is generated from them)."""

from __future__ import annotations

import datetime as _dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from compiler.spec.types import (
    Cron,
    DataUri,
    Date,
    Digest,
    Duration,
    Email,
    EnvName,
    Ident,
    Image,
    LabelKey,
    LabelValue,
    Name,
    PolicyId,
    Quantity,
    RepoPath,
    SemVer,
    Text,
    Uri,
    Url,
)


class Strict(BaseModel):
    """Base: unknown keys are errors, no type coercion, values frozen once validated."""

    model_config = ConfigDict(
        extra="forbid", strict=True, frozen=True, populate_by_name=True, allow_inf_nan=False
    )


def _d(text: str, **kw: Any) -> Any:
    return Field(description=text, **kw)


# --- enums -------------------------------------------------------------------------------


SourceKind = Literal["file", "bigquery", "snowflake", "redshift", "postgres", "kafka"]


LegalBasis = Literal[
    "consent",
    "contract",
    "legal_obligation",
    "vital_interests",
    "public_task",
    "legitimate_interests",
]


Dtype = Literal["int32", "int64", "float32", "float64", "string", "bool", "bytes", "unix_timestamp"]


Framework = Literal[
    "sklearn", "xgboost", "lightgbm", "pytorch", "tensorflow", "onnx", "huggingface", "custom"
]


Risk = Literal["minimal", "limited", "high"]


ServingMode = Literal["realtime", "batch"]


Runtime = Literal["kserve", "deployment"]


Strategy = Literal["canary", "rolling"]
TrainsOn = Literal["kubernetes", "ci"]


DriftMetric = Literal["psi", "ks", "wasserstein"]


Explain = Literal["shap", "lime", "none"]


PackName = Literal["baseline", "eu-ai-act", "gdpr"]


Subject = Literal["model", "feature", "source", "slo"]


Level = Literal["error", "warning"]


# --- metadata, teams, environments --------------------------------------------------------


class Metadata(Strict):
    name: Name = _d("Project name; prefixes every generated object.")
    owner: Name = _d("Default owner team of everything in the spec (a name under `teams`).")
    description: Text | None = _d("What the project is for.", default=None)
    repository: str | None = _d(
        "Git repository of the spec, e.g. github.com/acme/payments-ml; used in docs, CI and "
        "Argo CD.",
        default=None,
    )
    labels: dict[LabelKey, LabelValue] = _d(
        "Labels copied onto every generated Kubernetes object.", default_factory=dict
    )


class Team(Strict):
    name: Name = _d("Team name; owners, reviewers and approvers refer to it.")
    email: Email = _d("Team e-mail; ticket alerts and reports go here.")
    slack: str | None = _d("Slack channel for ticket alerts, e.g. #risk-ml-alerts.", default=None)
    github_team: str | None = _d(
        "GitHub team as org/team, used for CODEOWNERS and required reviewers.",
        default=None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$",
    )
    pagerduty_service: str | None = _d(
        "PagerDuty service id; page alerts route here.", default=None, pattern=r"^[A-Z0-9]{3,20}$"
    )


class Approval(Strict):
    required: bool = _d("Deploying to this environment needs a person's approval.", default=False)
    reviewers: list[Name] = _d("Teams whose members may approve.", default_factory=list)


class Environment(Strict):
    name: Name = _d("Environment name; promotion order is list order.")
    namespace: Name = _d("Kubernetes namespace the environment deploys into.")
    cluster: Url = _d(
        "Argo CD destination server, e.g. https://kubernetes.default.svc.",
        default="https://kubernetes.default.svc",
    )
    approval: Approval = _d("Approval needed before deploying here.", default_factory=Approval)
    pages: bool | None = _d(
        "Page alerts of SLOs in this environment reach the owner team's pager; otherwise "
        "they go to the team's ticket receiver (e-mail, Slack) like slow burns. "
        "Default: true where approval is required.",
        default=None,
    )
    argocd_project: str = _d(
        "Argo CD project of the environment's Application.",
        default="default",
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
    )
    prometheus_url: Url | None = _d(
        "Prometheus of the environment's cluster, which canary analysis queries (Argo Rollouts "
        "for runtime deployment, the promotion check for kserve); required where a canary "
        "model has an availability or latency SLO.",
        default=None,
    )

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        # a field validator, so that the error points at the namespace, not the environment
        if value == "default":
            raise PydanticCustomError(
                "mlopsc_value", "the 'default' namespace is not allowed; name one for the project"
            )
        return value


# --- data: sources, entities, feature views -----------------------------------------------


class Source(Strict):
    name: Ident = _d("Source name.")
    kind: SourceKind = _d("Storage kind of the raw data.")
    path: str | None = _d("Location of a `file` source (s3://, gs://, a path).", default=None)
    dvc: RepoPath | None = _d(
        "The DVC-tracked file or folder holding this source's data, relative to the spec's "
        "folder: `mlopsc resolve` records its DVC hash in mlops.lock.yaml, and the lineage and "
        "compliance report name it (which data trained the model).",
        default=None,
    )
    table: str | None = _d(
        "Table (or Kafka topic) of a non-file source, e.g. project.dataset.table.", default=None
    )
    bootstrap_servers: str | None = _d("Kafka bootstrap servers (kafka only).", default=None)
    timestamp_field: Ident = _d("Event timestamp column.", default="event_timestamp")
    owner: Name | None = _d("Owner team; defaults to metadata.owner.", default=None)
    description: Text | None = _d("What the data is.", default=None)
    pii_columns: list[str] = _d("Columns holding personal data (GDPR).", default_factory=list)
    retention: Duration | None = _d("How long the data is kept (GDPR Art. 5(1)(e)).", default=None)
    legal_basis: LegalBasis | None = _d(
        "GDPR Art. 6 legal basis; required when pii_columns is not empty.", default=None
    )


class Entity(Strict):
    name: Ident = _d("Entity name.")
    join_keys: list[Ident] = _d("Join key columns.", min_length=1)
    dtype: Dtype = _d("Type of the join keys.", default="string")
    description: Text | None = _d("What the entity is.", default=None)


class FeatureField(Strict):
    name: Ident = _d("Field name.")
    dtype: Dtype = _d("Field type.")
    pii: bool = _d("The field holds personal data.", default=False)
    description: Text | None = _d("What the field means.", default=None)


class FeatureView(Strict):
    name: Ident = _d("Feature view name.")
    entity: Ident = _d("The entity the view is keyed by.")
    source: Ident = _d("The source the view reads.")
    ttl: Duration = _d("How long a feature value stays valid.", default="1d")
    online: bool = _d("Materialize to the online store.", default=True)
    owner: Name | None = _d("Owner team; defaults to metadata.owner.", default=None)
    description: Text | None = _d("What the view holds.", default=None)
    tags: dict[str, str] = _d("Free-form tags.", default_factory=dict)
    fields: list[FeatureField] = _d("The view's features.", min_length=1)


# --- models ------------------------------------------------------------------------------


class Artifact(Strict):
    uri: Uri = _d(
        "Where the trained model lives: a storage URI (s3://..., gs://..., https://...), or a "
        "registry: models:/NAME/VERSION or models:/NAME@ALIAS (MLflow), dvc://PATH (DVC) or "
        "lfs://PATH (Git LFS), PATH relative to the spec's folder. A registry is read from "
        "mlops.lock.yaml, which `mlopsc resolve` writes (docs/versioning.md).",
    )
    digest: Digest | None = _d(
        "Content hash of the artifact (sha256:...); must agree with the registry's when it "
        "reports one.",
        default=None,
    )
    tracking_uri: Url | None = _d(
        "MLflow tracking server `mlopsc resolve` asks about a models:/ URI (default: the "
        "MLFLOW_TRACKING_URI environment variable).",
        default=None,
    )


class Candidate(Strict):
    """A new version served next to the current one by a KServe canary, until promoted."""

    version: SemVer = _d("Version of the candidate.")
    artifact: Artifact = _d("The candidate's location and hash.")
    image: Image | None = _d(
        "Server image of the candidate; defaults to serving.image.", default=None
    )


class Resources(Strict):
    cpu: Quantity | None = _d("CPU request and limit, e.g. 500m or 2.", default=None)
    memory: Quantity | None = _d("Memory request and limit, e.g. 2Gi.", default=None)
    gpu: int | None = _d("Number of GPUs (nvidia.com/gpu).", default=None, ge=0, le=16)


class Training(Strict):
    image: Image = _d("Training image, pinned by digest.")
    command: list[Text] = _d(
        "Command and arguments of the training run. Trained on Kubernetes, `$(NAME)` in a word "
        "is the container's environment variable NAME (e.g. `$(MLOPSC_PARAM_LR)`) and `$$(` "
        "a literal `$(`, as Kubernetes expands them; in CI the words reach the image as written.",
        default_factory=list,
    )
    schedule: Cron | None = _d("Retraining schedule; omit for manual only.", default=None)
    data: list[Ident] = _d("Sources the training reads (lineage).", default_factory=list)
    params: dict[EnvName, str | int | float | bool] = _d(
        "Hyper-parameters, passed as environment variables: each key is the variable's name.",
        default_factory=dict,
    )
    resources: Resources = _d("CPU and memory of the training job.", default_factory=Resources)
    runs_on: TrainsOn = _d(
        "Where training runs: kubernetes (the CronJob <model>-train in the first environment, "
        "with the resources asked for; its metrics go beside the artifact for the CI gate) or "
        "ci (the CI training workflow, on a CI runner). Default kubernetes: CI runners cannot "
        "give the CPU, memory or GPUs a training job asks for.",
        default="kubernetes",
    )


class Gate(Strict):
    min: float | None = _d("The metric must be at least this.", default=None)
    max: float | None = _d("The metric must be at most this.", default=None)

    @model_validator(mode="after")
    def _bounds(self) -> Gate:
        if self.min is None and self.max is None:
            raise PydanticCustomError("mlopsc_value", "a gate sets min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise PydanticCustomError("mlopsc_range", "the gate's min is above its max")
        return self


class Fairness(Strict):
    protected_attributes: list[Ident] = _d("Attributes fairness is measured over.", min_length=1)
    metric: Ident = _d("Fairness metric, e.g. demographic_parity_difference.")
    max: float = _d("Largest acceptable value of the metric.", ge=0)


class Evaluation(Strict):
    metrics: dict[Ident, Gate] = _d("Promotion gates per metric.", default_factory=dict)
    fairness: Fairness | None = _d("Fairness gate (EU AI Act Art. 10).", default=None)


class Explainability(Strict):
    method: Explain = _d("Explanation method offered to users.")


class Autoscaling(Strict):
    min_replicas: int = _d("Fewest replicas.", default=1, ge=1, le=1000)
    max_replicas: int = _d("Most replicas.", default=3, ge=1, le=1000)
    target_cpu_utilization: int = _d(
        "CPU utilization percent to scale at.", default=70, ge=1, le=100
    )


class Rollout(Strict):
    strategy: Strategy = _d("How a new version reaches traffic.", default="rolling")
    canary_percent: int | None = _d(
        "Share of traffic the canary takes (canary only), 1..99.", default=None, ge=1, le=99
    )
    analysis_interval: Duration = _d(
        "Canary only: how often the canary's SLIs are measured; each analysis takes 5 "
        "measurements, so a step lasts 5 intervals.",
        default="1m",
    )


class Serving(Strict):
    mode: ServingMode = _d("realtime (a server) or batch (a scoring CronJob).")
    runtime: Runtime = _d(
        "kserve (InferenceService) or deployment (Deployment, Service, HPA, PDB).",
        default="deployment",
    )
    image: Image | None = _d(
        "Server or scoring image; required for runtime deployment and for batch.", default=None
    )
    port: int = _d("Port the server listens on.", default=8080, ge=1024, le=65535)
    schedule: Cron | None = _d("Batch only: when scoring runs.", default=None)
    resources: Resources = _d("CPU and memory per replica.", default_factory=Resources)
    autoscaling: Autoscaling = _d("Replica bounds and target.", default_factory=Autoscaling)
    rollout: Rollout = _d("Rollout strategy.", default_factory=Rollout)
    request_logging: bool = _d(
        "Record predictions (EU AI Act Art. 12 record-keeping).", default=False
    )
    request_log_url: Url | None = _d(
        "Where request logs go: KServe's logger posts each request and response there as "
        "CloudEvents (required with request_logging on runtime kserve); a deployment server "
        "gets it as MLOPSC_REQUEST_LOG_URL (without it, it logs to stdout). mlopsc deploys no "
        "log sink.",
        default=None,
    )
    health_path: str = _d(
        "HTTP path of the server's liveness and readiness probes (runtime deployment).",
        default="/healthz",
        pattern=r"^/[A-Za-z0-9._~/-]*$",
    )
    overrides: dict[Name, ServingOverride] = _d(
        "Per-environment changes to any serving key. An override that switches `mode` or "
        "`rollout.strategy` leaves out the base's keys of the other mode (a base "
        "`canary_percent` under `strategy: rolling`).",
        default_factory=dict,
    )


class ResourcesOverride(Strict):
    cpu: Quantity | None = _d("CPU request and limit.", default=None)
    memory: Quantity | None = _d("Memory request and limit.", default=None)
    gpu: int | None = _d("Number of GPUs.", default=None, ge=0, le=16)


class AutoscalingOverride(Strict):
    min_replicas: int | None = _d("Fewest replicas.", default=None, ge=1, le=1000)
    max_replicas: int | None = _d("Most replicas.", default=None, ge=1, le=1000)
    target_cpu_utilization: int | None = _d("CPU percent to scale at.", default=None, ge=1, le=100)


class RolloutOverride(Strict):
    strategy: Strategy | None = _d("How a new version reaches traffic.", default=None)
    canary_percent: int | None = _d("Canary share of traffic.", default=None, ge=1, le=99)
    analysis_interval: Duration | None = _d("Canary analysis interval.", default=None)


class ServingOverride(Strict):
    """Any serving key but `overrides`; merged over the base for one environment."""

    mode: ServingMode | None = _d("Serving mode.", default=None)
    runtime: Runtime | None = _d("Serving runtime.", default=None)
    image: Image | None = _d("Server image.", default=None)
    port: int | None = _d("Server port.", default=None, ge=1024, le=65535)
    schedule: Cron | None = _d("Batch schedule.", default=None)
    resources: ResourcesOverride | None = _d("CPU and memory.", default=None)
    autoscaling: AutoscalingOverride | None = _d("Replica bounds.", default=None)
    rollout: RolloutOverride | None = _d("Rollout strategy.", default=None)
    request_logging: bool | None = _d("Record predictions.", default=None)
    request_log_url: Url | None = _d("Where KServe sends request logs.", default=None)
    health_path: str | None = _d(
        "HTTP path of the probes.", default=None, pattern=r"^/[A-Za-z0-9._~/-]*$"
    )


class Drift(Strict):
    features: list[str] = _d("Features watched, as view:field or view.", min_length=1)
    metric: DriftMetric = _d("Drift statistic.", default="psi")
    threshold: float = _d("Drift above this is an incident.", gt=0)
    schedule: Cron = _d("When the drift check runs.", default="0 * * * *")
    image: Image | None = _d(
        "Image of the drift job (it runs `mlopsc drift`, so it has `mlopsc[drift]` installed); "
        "defaults to the training, then the serving image.",
        default=None,
    )
    reference: DataUri | None = _d(
        "Reference sample of the model's features (parquet file or folder), e.g. the training "
        "data's features; one column per feature field.",
        default=None,
    )
    current: DataUri | None = _d(
        "Recent window of the model's features (parquet file or folder) compared with the "
        "reference on every run, e.g. where the serving logs land.",
        default=None,
    )
    pushgateway: Url | None = _d(
        "Prometheus Pushgateway the drift job pushes `mlopsc_feature_drift_score` to (without "
        "it the job prints the scores and writes nothing); required when a drift SLO reads the "
        "model's scores.",
        default=None,
    )


class Monitoring(Strict):
    drift: Drift | None = _d("Feature drift monitoring (EU AI Act Art. 72).", default=None)


class Card(Strict):
    intended_use: Text | None = _d("What the model is for (EU AI Act Art. 13).", default=None)
    out_of_scope_use: Text | None = _d("Uses the model is not fit for.", default=None)
    limitations: Text | None = _d("Known limitations (Art. 13).", default=None)
    ethical_considerations: Text | None = _d("Risks to people and how they are met.", default=None)
    human_oversight: Text | None = _d("How people oversee the model (Art. 14).", default=None)
    training_data: Text | None = _d("Narrative on the training data.", default=None)
    evaluation_data: Text | None = _d("Narrative on the evaluation data.", default=None)
    caveats: Text | None = _d("Anything else readers must know.", default=None)


class Model(Strict):
    name: Name = _d("Model name.")
    version: SemVer = _d("Model version (semantic versioning).")
    owner: Name | None = _d("Owner team; defaults to metadata.owner.", default=None)
    description: Text | None = _d("What the model does.", default=None)
    framework: Framework = _d("ML framework; picks the KServe model format.")
    risk: Risk = _d("EU AI Act risk tier: minimal, limited or high.", default="minimal")
    artifact: Artifact = _d("The trained model's location and hash.")
    candidate: Candidate | None = _d(
        "runtime kserve: the next version, which a canary rollout (spec.canary[]) serves to "
        "canary_percent of the traffic while `artifact` serves the rest; promote it by moving "
        "it to version and artifact (docs/kubernetes.md). runtime deployment needs none: Argo "
        "Rollouts canaries a changed artifact itself.",
        default=None,
    )
    features: list[str] = _d(
        "Features used, as view:field or view (all of its fields).", default_factory=list
    )
    training: Training | None = _d("How the model is trained.", default=None)
    evaluation: Evaluation | None = _d("Promotion gates.", default=None)
    explainability: Explainability | None = _d("Explanation method.", default=None)
    serving: Serving = _d("How the model serves predictions.")
    monitoring: Monitoring = _d("Model monitoring.", default_factory=Monitoring)
    card: Card = _d("Model-card narrative.", default_factory=Card)


# --- SLOs --------------------------------------------------------------------------------


class Empty(Strict):
    pass


class LatencySli(Strict):
    threshold: Duration = _d("Requests slower than this are bad.")


class DriftSli(Strict):
    feature: str = _d("The feature (view:field) whose drift is measured.")
    threshold: float = _d("Drift above this counts as bad.", gt=0)


class FreshnessSli(Strict):
    max_age: Duration = _d("The model is stale when last trained longer ago than this.")


class EventsSli(Strict):
    error_query: Text = _d("PromQL rate of bad events; {{window}} is the range.", min_length=1)
    total_query: Text = _d("PromQL rate of all events; {{window}} is the range.", min_length=1)


class Sli(Strict):
    availability: Empty | None = _d("Share of requests answered without a 5xx.", default=None)
    latency: LatencySli | None = _d("Share of requests faster than a threshold.", default=None)
    drift: DriftSli | None = _d("Share of drift checks under the threshold.", default=None)
    freshness: FreshnessSli | None = _d("Time the model was fresh.", default=None)
    events: EventsSli | None = _d("Your own good/total event queries.", default=None)

    @model_validator(mode="after")
    def _one(self) -> Sli:
        if len(self.kinds()) != 1:
            raise PydanticCustomError(
                "mlopsc_sli",
                "an sli declares exactly one of availability, latency, drift, freshness, events",
            )
        return self

    def kinds(self) -> list[str]:
        return [
            k
            for k in ("availability", "latency", "drift", "freshness", "events")
            if getattr(self, k) is not None
        ]

    @property
    def kind(self) -> str:
        return self.kinds()[0]


class AlertToggle(Strict):
    enabled: bool = _d("Whether this alert is generated.", default=True)


class Alerting(Strict):
    page: AlertToggle = _d("Fast burn: pages the owner team.", default_factory=AlertToggle)
    ticket: AlertToggle = _d("Slow burn: a ticket or chat message.", default_factory=AlertToggle)
    min_request_rate: float | None = _d(
        "Requests per second below which burn-rate alerts of ratio SLIs (availability, latency, "
        "events) stay quiet: an alert needs at least this rate over both its short and its "
        "long window.",
        default=None,
        ge=0,
    )


class Slo(Strict):
    name: Name = _d("SLO name.")
    model: Name = _d("The model the SLO is about.")
    description: Text | None = _d("What the objective promises.", default=None)
    objective: float = _d("Target percentage of good events, 0 < objective < 100.", gt=0, lt=100)
    window: Duration = _d("Compliance window, e.g. 30d.", default="30d")
    sli: Sli = _d("The indicator: exactly one kind.")
    alerting: Alerting = _d("Burn-rate alerting.", default_factory=Alerting)
    runbook_url: Url | None = _d("Runbook linked from the alerts.", default=None)


# --- governance --------------------------------------------------------------------------


class Policy(Strict):
    id: PolicyId = _d("Policy id, used in diagnostics and waivers.")
    description: Text = _d("What the policy requires, in one line.")
    applies_to: Subject = _d("Which objects the policy checks: model, feature, source or slo.")
    when: Text = _d("CEL condition selecting the objects checked.", default="true", min_length=1)
    require: Text = _d("CEL condition each selected object must meet.", min_length=1)
    severity: Level = _d("error or warning.", default="error")


class Waiver(Strict):
    rule: str = _d("Built-in rule id or policy id.", min_length=1)
    target: str = _d("The name the rule fired on.", min_length=1)
    reason: Text = _d("Why the exception is accepted.", min_length=1)
    approved_by: Name = _d("Team that approved the exception.")
    expires: Date = _d("Date after which the waiver no longer applies.")


class Governance(Strict):
    frameworks: list[PackName] = _d(
        "Built-in rule packs to apply.", default_factory=lambda: ["baseline"]
    )
    policies: list[Policy] = _d("The project's own CEL rules.", default_factory=list)
    waivers: list[Waiver] = _d("Accepted exceptions.", default_factory=list)


# A relative path whose parts are never "." or "..": outputs stay inside the output folder.
# A segment may not start with '-' (an option to the tools that get it; the artifact layer
# refuses it too, so validate and build agree).
SAFE_RELATIVE_PATH = (
    r"^(?:(?!\.\.?(?:/|$))[A-Za-z0-9._][A-Za-z0-9._-]*/)*(?!\.\.?$)[A-Za-z0-9._][A-Za-z0-9._-]*$"
)


CiSystem = Literal["github", "gitlab", "azure", "cloudbuild", "aws", "jenkins"]


class Outputs(Strict):
    model_config = ConfigDict(regex_engine="python-re")  # the path pattern needs look-ahead

    directory: str = _d(
        "Path of the build output folder inside the repository (what `mlopsc build -o` writes); "
        "Argo CD and CI read the generated files there. `.` is the repository root.",
        default="deploy",
        pattern=r"^\.$|" + SAFE_RELATIVE_PATH,
    )
    revision: str = _d(
        "Git revision Argo CD syncs from.", default="HEAD", pattern=r"^[A-Za-z0-9._/-]+$"
    )
    mlopsc_requirement: str | None = _d(
        "pip requirement the generated CI installs mlopsc with (default: mlopsc==<the version "
        "that built the outputs>), e.g. git+https://github.com/mlopsc/mlopsc@v0.1.0.",
        default=None,
        pattern=r"^[A-Za-z0-9@:/._+=<>!~,\[\]#-]+$",
    )
    github_workflows: str | None = _d(
        "Folder of generated GitHub workflows relative to the output (default github/workflows).",
        default=None,
        pattern=SAFE_RELATIVE_PATH,
    )
    ci: list[CiSystem] = _d(
        "CI/CD systems a full build writes files for (`mlopsc build --only <name>` builds any "
        "of them whatever this list says).",
        default=["github", "gitlab"],
    )
    ci_image: Image | None = _d(
        "Container image the GitLab jobs and Cloud Build steps run mlopsc in: Python 3.11 or "
        "newer with git and bash (default python:3.11, a tag that moves with every Python "
        "release; pin it by digest, e.g. python:3.11@sha256:<hex>, to run what you reviewed).",
        default=None,
    )


class OnlineStore(Strict):
    type: Literal["sqlite", "redis", "postgres", "dynamodb", "datastore"] = _d(
        "Feast online store kind.", default="sqlite"
    )
    path: str = _d(
        "sqlite only: database file, relative to the feature repository.",
        default="data/online_store.db",
        pattern=r"^[A-Za-z0-9._/-]+$",
    )
    connection_string: str | None = _d(
        "redis only: host:port[,host:port...]; no password here (use password_env).",
        default=None,
        pattern=r"^[A-Za-z0-9.-]+:[0-9]+(,[A-Za-z0-9.-]+:[0-9]+)*$",
    )
    host: str | None = _d("postgres only: server host.", default=None, pattern=r"^[A-Za-z0-9.-]+$")
    port: int | None = _d("postgres only: server port.", default=None, ge=1, le=65535)
    database: str | None = _d(
        "postgres only: database name.", default=None, pattern=r"^[A-Za-z0-9_-]+$"
    )
    user: str | None = _d("postgres only: user name.", default=None, pattern=r"^[A-Za-z0-9_.@-]+$")
    password_env: str | None = _d(
        "Name of the environment variable holding the password (never the password itself).",
        default=None,
        pattern=r"^[A-Z_][A-Z0-9_]*$",
    )
    region: str | None = _d("dynamodb only: AWS region.", default=None, pattern=r"^[a-z0-9-]+$")
    project_id: str | None = _d(
        "datastore only: GCP project id.", default=None, pattern=r"^[a-z][a-z0-9-]*$"
    )


class OfflineStore(Strict):
    type: Literal["file", "dask", "duckdb", "bigquery", "snowflake", "redshift", "postgres"] = _d(
        "Feast offline store kind; it reads the feature views' sources, so it must match their "
        "kind (file, dask, duckdb: file sources).",
        default="file",
    )
    project_id: str | None = _d(
        "bigquery only: GCP project id.", default=None, pattern=r"^[a-z][a-z0-9-]*$"
    )
    dataset: str | None = _d(
        "bigquery only: dataset for temporary tables.", default=None, pattern=r"^[A-Za-z0-9_]+$"
    )
    location: str | None = _d(
        "bigquery only: dataset location, e.g. EU.", default=None, pattern=r"^[A-Za-z0-9-]+$"
    )
    account: str | None = _d(
        "snowflake only: account identifier.", default=None, pattern=r"^[A-Za-z0-9._-]+$"
    )
    warehouse: str | None = _d(
        "snowflake only: warehouse.", default=None, pattern=r"^[A-Za-z0-9_$]+$"
    )
    role: str | None = _d("snowflake only: role.", default=None, pattern=r"^[A-Za-z0-9_$]+$")
    cluster_id: str | None = _d(
        "redshift only: cluster identifier.", default=None, pattern=r"^[a-z0-9-]+$"
    )
    region: str | None = _d("redshift only: AWS region.", default=None, pattern=r"^[a-z0-9-]+$")
    s3_staging_location: str | None = _d(
        "redshift only: s3:// folder for unloads.", default=None, pattern=r"^s3://[A-Za-z0-9._/-]+$"
    )
    iam_role: str | None = _d(
        "redshift only: IAM role ARN Redshift assumes for S3.",
        default=None,
        pattern=r"^arn:aws:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+$",
    )
    host: str | None = _d("postgres only: server host.", default=None, pattern=r"^[A-Za-z0-9.-]+$")
    port: int | None = _d("postgres only: server port.", default=None, ge=1, le=65535)
    database: str | None = _d(
        "snowflake, redshift, postgres: database name.", default=None, pattern=r"^[A-Za-z0-9_-]+$"
    )
    user: str | None = _d(
        "snowflake, redshift, postgres: user name.", default=None, pattern=r"^[A-Za-z0-9_.@-]+$"
    )
    password_env: str | None = _d(
        "Name of the environment variable holding the password (never the password itself).",
        default=None,
        pattern=r"^[A-Z_][A-Z0-9_]*$",
    )


class FeatureStore(Strict):
    provider: Literal["local", "gcp", "aws"] = _d("Feast provider.", default="local")
    registry: str = _d(
        "Feast registry: a path relative to the feature repository, or gs:// / s3:// object.",
        default="data/registry.db",
        pattern=r"^([a-z0-9]+://)?[A-Za-z0-9._/-]+$",
    )
    online_store: OnlineStore = _d(
        "Where online features are served from.", default_factory=OnlineStore
    )
    offline_store: OfflineStore = _d(
        "The one store that reads every feature view's source for training data and "
        "materialization. Default: derived from the sources' kinds (see offline_stores).",
        default_factory=OfflineStore,
    )
    offline_stores: list[OfflineStore] = _d(
        "One store per source kind, for feature views on sources of several kinds: compiled to "
        "Feast's hybrid offline store. Default: one store with default settings per kind used.",
        default_factory=list,
    )
    batch_sources: dict[Ident, Ident] = _d(
        "kafka source name -> the source holding the topic's history (Feast needs a batch source "
        "for a stream); default: a parquet file data/<source>.parquet in the repository.",
        default_factory=dict,
    )


class Project(Strict):
    """An mlopsc project: one ML product's models, data, SLOs and governance."""

    model_config = ConfigDict(
        title="mlopsc spec v1",
        json_schema_extra={
            "$id": "https://mlopsc.dev/schemas/mlops-v1.json",
        },
    )

    api_version: Literal["mlopsc/v1"] = Field(
        alias="apiVersion", description="Spec version: mlopsc/v1."
    )
    kind: Literal["MLOpsProject"] = _d("Always MLOpsProject.")
    include: list[str] = _d(
        "Files (globs, relative to this file) whose list sections are appended.",
        default_factory=list,
    )
    metadata: Metadata = _d("Project name, owner and labels.")
    teams: list[Team] = _d(
        "Teams that own things; alerts and approvals route to them.", min_length=1
    )
    environments: list[Environment] = _d(
        "Deployment environments in promotion order.", min_length=1
    )
    sources: list[Source] = _d("Raw data sources.", default_factory=list)
    entities: list[Entity] = _d("Feature entities.", default_factory=list)
    features: list[FeatureView] = _d("Feature views.", default_factory=list)
    models: list[Model] = _d("Models.", default_factory=list)
    slos: list[Slo] = _d("Service level objectives.", default_factory=list)
    governance: Governance = _d("Rule packs, policies and waivers.", default_factory=Governance)
    outputs: Outputs = _d("Where some outputs go.", default_factory=Outputs)
    feature_store: FeatureStore = _d(
        "The Feast feature store the feature views compile to.", default_factory=FeatureStore
    )


Serving.model_rebuild()
_ = _dt  # dates are validated through compiler.spec.types.Date
