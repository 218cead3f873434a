"""Every build step scales linearly with the models: no module of the compiler runs a loop
over every model (or SLO) once per model. Measured in lines executed, which do not depend on
the machine's speed (the times are in bench/ and docs/performance.md)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from tests.conftest import ROOT
from tests.helpers import lines_by_file

COMPILER = str(ROOT / "compiler") + "/"


def _gen_spec(models: int) -> str:
    found = importlib.util.spec_from_file_location("gen_spec", ROOT / "bench" / "gen_spec.py")
    assert found is not None and found.loader is not None
    gen = importlib.util.module_from_spec(found)
    found.loader.exec_module(gen)
    return str(gen.spec(models))


def _build_lines(tmp_path: Path, models: int) -> dict[str, int]:
    """Lines each compiler module executes to check, plan and render a synthetic spec."""
    from compiler.build import compile_outputs
    from compiler.diagnostics import Sink
    from compiler.pipeline import check_spec
    from compiler.render_jobs import render_targets

    path = tmp_path / f"spec-{models}.yaml"
    path.write_text(_gen_spec(models))
    check_spec(str(path), Sink())  # imports and first-use caches outside the measure

    def work() -> None:
        sink = Sink()
        checked = check_spec(str(path), sink)
        assert checked is not None, sink.items
        compiled = compile_outputs(
            checked, sink, renderer=lambda plan, names: render_targets(plan, names, jobs=1)
        )
        assert compiled is not None and len(compiled.artifacts) > 6 * models

    counts = lines_by_file(lambda name: name.startswith(COMPILER), work)
    return {name.removeprefix(COMPILER): n for name, n in counts.items()}


def test_no_module_does_quadratic_work(tmp_path: Path) -> None:
    """Doubling the models at most doubles what each module executes (plus a constant)."""
    small, large = _build_lines(tmp_path, 24), _build_lines(tmp_path, 48)
    assert sum(small.values()) > 100_000
    assert {"canary.py", "targets/prometheus.py", "targets/kubernetes.py"} <= set(small)
    worse = {
        name: (small.get(name, 0), count)
        for name, count in large.items()
        if count > 2.1 * small.get(name, 0) + 300
    }
    assert not worse, worse
