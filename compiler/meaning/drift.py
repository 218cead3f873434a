"""The drift job must have data: `mlopsc drift` compares a reference sample with a current
window, both declared under monitoring.drift."""

from __future__ import annotations

from compiler import diagnostics as dx
from compiler.diagnostics import Sink
from compiler.load import SourceMap
from compiler.spec.models import Project

NUMERIC = {"int32", "int64", "float32", "float64", "unix_timestamp"}


def check_drift_data(project: Project, smap: SourceMap, sink: Sink) -> None:
    """Warn (MLC341) where a model's drift job has no reference or no current data; refuse
    (MLC342) ks and wasserstein, which need numbers, on features that are not numeric."""
    dtypes = {(v.name, f.name): f.dtype for v in project.features for f in v.fields}
    for i, model in enumerate(project.models):
        drift = model.monitoring.drift
        if drift is None:
            continue
        if drift.metric != "psi":
            for j, ref in enumerate(drift.features):
                view, _, name = ref.partition(":")
                kinds = {d for (v, f), d in dtypes.items() if v == view and name in ("", f)}
                wrong = sorted(kinds - NUMERIC)
                if wrong:
                    sink.error(
                        dx.DRIFT_METRIC_TYPE,
                        f"{drift.metric} compares numbers, but '{ref}' is {', '.join(wrong)}",
                        smap.span(("models", i, "monitoring", "drift", "features", j)),
                        hint="use metric: psi, which also compares categories",
                    )
        missing = [k for k in ("reference", "current") if getattr(drift, k) is None]
        if missing:
            sink.warning(
                dx.DRIFT_NO_DATA,
                f"model '{model.name}': the drift job has no {' and no '.join(missing)} data to "
                "compare, so the drift SLO will see no data",
                smap.span(("models", i, "monitoring", "drift")),
                hint="set monitoring.drift.reference and monitoring.drift.current "
                "(parquet files or folders, e.g. s3://bucket/features/)",
            )
