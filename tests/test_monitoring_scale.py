"""Monitoring scales linearly: no step scans every model or SLO per model or SLO."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from tests.conftest import ROOT
from tests.helpers import lines_executed


def _monitoring_lines(tmp_path: Path, models: int, *, only: tuple[str, ...] = ()) -> int:
    """Lines of Python that planning and the monitoring target execute for a synthetic spec
    (`only`: in these modules)."""
    from compiler.diagnostics import Sink
    from compiler.pipeline import check_spec
    from compiler.plan import build_plan
    from compiler.targets import monitoring

    found = importlib.util.spec_from_file_location("gen_spec", ROOT / "bench" / "gen_spec.py")
    assert found is not None and found.loader is not None
    gen = importlib.util.module_from_spec(found)
    found.loader.exec_module(gen)
    path = tmp_path / f"spec-{models}.yaml"
    path.write_text(gen.spec(models))
    checked = check_spec(str(path), Sink())
    assert checked is not None
    names = only or (
        "slo",
        "plan",
        "conventions_metrics",
        "targets/prometheus",
        "targets/prometheus_tests",
        "targets/alertmanager",
        "targets/grafana",
        "targets/monitoring",
    )
    files = {str(ROOT / "compiler" / f"{name}.py") for name in names}
    return lines_executed(files, lambda: monitoring.render(build_plan(checked)))


def test_monitoring_scales_linearly(tmp_path: Path) -> None:
    """Doubling the models at most doubles the work (and burn windows are computed once per
    window length, not per rule)."""
    small, large = _monitoring_lines(tmp_path, 20), _monitoring_lines(tmp_path, 40)
    assert small > 10_000  # the tracer saw the monitoring code
    assert large <= 2.1 * small, (small, large)


def test_planning_slos_scales_linearly(tmp_path: Path) -> None:
    """Each SLO finds its model's deployments in a table, not by scanning every model."""
    small = _monitoring_lines(tmp_path, 20, only=("plan",))
    large = _monitoring_lines(tmp_path, 40, only=("plan",))
    assert small > 1000
    assert large <= 2.1 * small, (small, large)
