"""`mlopsc drift`: measure feature drift between a reference sample and a current window and
export `mlopsc_feature_drift_score`, the gauge the generated drift SLO rules and alerts read.

The statistics follow the definitions Evidently uses under the same names (docs/monitoring.md
says why mlopsc computes them with SciPy instead of depending on Evidently):

- `psi`: population stability index over Sturges bins of both samples (numerical features with
  more than 20 distinct values) or over the categories, empty bins filled with a small share;
- `ks`: the two-sample Kolmogorov-Smirnov statistic D (0 = same distribution, 1 = disjoint);
- `wasserstein`: the first Wasserstein distance divided by the reference's standard deviation.

Heavy modules (numpy, scipy, pyarrow, prometheus_client: the `drift` extra) are imported only
when the command runs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from compiler.conventions_metrics import DRIFT_METRIC
from compiler.errors import UsageProblem
from compiler.plan import Plan

EXTRA = "pip install 'mlopsc[drift]'"
MIN_ROWS = 2


class DriftError(UsageProblem):
    """A drift run that cannot be done (missing data, column, extra, gateway): exit 2."""


@dataclass(frozen=True)
class DriftJob:
    """What one run measures: a model's features in one namespace, and where the data is."""

    model: str
    namespace: str
    features: tuple[str, ...]  # view:field references; the parquet column is the field name
    metric: str
    threshold: float
    reference: str
    current: str


@dataclass(frozen=True)
class Score:
    feature: str
    value: float
    drifted: bool


def _modules() -> tuple[Any, Any, Any]:
    try:
        import numpy as np
        import pyarrow.parquet as pq
        from scipy import stats
    except ImportError as exc:
        raise DriftError(
            f"mlopsc drift needs the drift extra ({exc.name} is missing): {EXTRA}"
        ) from None
    return np, pq, stats


def column_of(feature: str) -> str:
    """The column a `view:field` feature is read from: the field's name."""
    return feature.rpartition(":")[2]


def read_columns(location: str, columns: Sequence[str]) -> dict[str, Any]:
    """Columns of a parquet file or folder (local path, file://, s3://, gs://, …) as arrays."""
    np, pq, _ = _modules()
    import pyarrow as pa

    path = location.removeprefix("file://")
    try:
        dataset = pq.ParquetDataset(path)
        missing = sorted(set(columns) - set(dataset.schema.names))
        if missing:
            raise DriftError(f"{location} has no column {', '.join(missing)}")
        table = dataset.read(columns=list(columns))
    except (OSError, pa.ArrowException) as exc:
        raise DriftError(f"cannot read {location}: {str(exc).splitlines()[0]}") from None
    data: dict[str, Any] = {}
    for name in columns:
        column = table.column(name).drop_null()
        if (
            pa.types.is_boolean(column.type)
            or pa.types.is_string(column.type)
            or pa.types.is_large_string(column.type)
            or pa.types.is_dictionary(column.type)
        ):
            data[name] = np.asarray(column.cast(pa.string()).to_pylist(), dtype=object)
        else:
            data[name] = np.asarray(column.to_numpy(zero_copy_only=False), dtype=float)
    return data


def _shares(np: Any, reference: Any, current: Any) -> tuple[Any, Any]:
    """Bin shares of both samples: Sturges bins for rich numeric data, categories otherwise."""
    numeric = reference.dtype != object and len(np.unique(reference)) > 20
    if numeric:
        edges = np.histogram_bin_edges(np.concatenate([reference, current]), bins="sturges")
        ref = np.histogram(reference, edges)[0] / len(reference)
        cur = np.histogram(current, edges)[0] / len(current)
    else:
        keys = sorted(set(reference.tolist()) | set(current.tolist()), key=str)
        ref_counts = {k: 0 for k in keys}
        cur_counts = {k: 0 for k in keys}
        for value in reference.tolist():
            ref_counts[value] += 1
        for value in current.tolist():
            cur_counts[value] += 1
        ref = np.array([ref_counts[k] / len(reference) for k in keys])
        cur = np.array([cur_counts[k] / len(current) for k in keys])
    for shares in (ref, cur):
        smallest = shares[shares > 0].min()
        np.place(shares, shares == 0, smallest / 10**6 if smallest <= 0.0001 else 0.0001)
    return ref, cur


def score(metric: str, reference: Any, current: Any) -> float:
    """The drift statistic of one feature: higher means more drift."""
    np, _, stats = _modules()
    if metric == "psi":
        ref, cur = _shares(np, reference, current)
        return float(np.sum((ref - cur) * np.log(ref / cur)))
    if reference.dtype == object or current.dtype == object:
        raise DriftError(f"{metric} needs numeric features; use psi for categorical ones")
    if metric == "ks":
        return float(stats.ks_2samp(reference, current).statistic)
    if metric == "wasserstein":
        norm = max(float(np.std(reference)), 0.001)
        return float(stats.wasserstein_distance(reference, current) / norm)
    raise DriftError(f"unknown drift metric {metric!r} (psi, ks or wasserstein)")


def measure(job: DriftJob) -> list[Score]:
    """Score every feature of the job; a feature with too few rows is an error, not a zero."""
    columns = sorted({column_of(f) for f in job.features})
    reference = read_columns(job.reference, columns)
    current = read_columns(job.current, columns)
    scores: list[Score] = []
    for feature in sorted(job.features):
        ref, cur = reference[column_of(feature)], current[column_of(feature)]
        for label, values in (("reference", ref), ("current", cur)):
            if len(values) < MIN_ROWS:
                raise DriftError(f"{feature}: the {label} data has {len(values)} non-null rows")
        value = score(job.metric, ref, cur)
        if not math.isfinite(value):
            raise DriftError(f"{feature}: {job.metric} is not a finite number ({value})")
        scores.append(Score(feature, value, value > job.threshold))
    return scores


def registry_of(job: DriftJob, scores: list[Score]) -> Any:
    """A prometheus_client registry holding the drift gauge of every feature."""
    try:
        from prometheus_client import CollectorRegistry, Gauge
    except ImportError:
        raise DriftError(
            f"mlopsc drift needs the drift extra (prometheus_client): {EXTRA}"
        ) from None
    registry = CollectorRegistry()
    gauge = Gauge(
        DRIFT_METRIC,
        f"Feature drift ({job.metric}) of a model's feature against its reference sample.",
        ["model", "feature", "namespace"],
        registry=registry,
    )
    for s in scores:
        gauge.labels(model=job.model, feature=s.feature, namespace=job.namespace).set(s.value)
    return registry


def push(job: DriftJob, scores: list[Score], gateway: str) -> None:
    """Push the gauges, grouped by namespace and model (a run replaces its own last push)."""
    from prometheus_client import push_to_gateway

    try:
        push_to_gateway(
            gateway,
            job="mlopsc-drift",
            registry=registry_of(job, scores),
            grouping_key={"namespace": job.namespace, "model": job.model},
            timeout=30,
        )
    except OSError as exc:
        raise DriftError(f"cannot push to {gateway}: {exc}") from None


def write_textfile(job: DriftJob, scores: list[Score], path: str) -> None:
    """Write the gauges for the node exporter's textfile collector (atomically)."""
    from prometheus_client import write_to_textfile

    try:
        write_to_textfile(path, registry_of(job, scores))
    except OSError as exc:
        raise DriftError(f"cannot write {path}: {exc.strerror}") from None


def job_from_plan(plan: Plan, model: str, environment: str) -> DriftJob:
    """The drift run a spec declares for a model in one environment (its namespace)."""
    found = plan.models_by_name.get(model)
    if found is None:
        raise DriftError(f"no model '{model}' in the spec")
    drift = found.monitoring.drift
    if drift is None:
        raise DriftError(f"model '{model}' declares no monitoring.drift")
    envs = {ep.name: ep for ep in plan.environments}
    if environment not in envs:
        raise DriftError(f"no environment '{environment}' (known: {', '.join(envs)})")
    return DriftJob(
        model=model,
        namespace=envs[environment].namespace,
        features=plan.drift_features[model],
        metric=drift.metric,
        threshold=drift.threshold,
        reference=drift.reference or "",
        current=drift.current or "",
    )
