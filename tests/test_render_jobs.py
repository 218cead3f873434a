"""Targets rendered in several processes (compiler/render_jobs.py) give the bytes of a serial
render, and the same error when a target cannot be built."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from compiler import render_jobs
from compiler.build import select_targets
from compiler.diagnostics import Sink
from compiler.pipeline import check_spec
from compiler.plan import Plan, build_plan
from compiler.targets import REGISTRY, load_target
from compiler.targets.base import TargetError
from tests.conftest import EXAMPLES, example_ids, run_mlopsc


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("example", EXAMPLES, ids=example_ids())
def test_every_example_builds_to_the_same_bytes_on_one_or_several_processes(
    example: Path, tmp_path: Path
) -> None:
    spec = str(example / "mlops.yaml")
    trees = []
    for jobs in ("1", "3"):
        out = tmp_path / f"jobs-{jobs}"
        done = run_mlopsc("build", spec, "-o", str(out), env={"MLOPSC_JOBS": jobs})
        assert done.returncode == 0, done.stderr
        trees.append(_tree(out))
    assert trees[0] == trees[1]
    assert len(trees[0]) > 20


def _plan(tmp_path: Path) -> tuple[Plan, list[str]]:
    sink = Sink()
    checked = check_spec(str(EXAMPLES[0] / "mlops.yaml"), sink)
    assert checked is not None, sink.items
    plan = build_plan(checked)
    names = select_targets(plan, checked.document.source_map, Sink(), only=None)
    return plan, names


def _replace(mp: pytest.MonkeyPatch, name: str, render: object) -> None:
    """Target `name` rendering with `render` instead (forked processes inherit it)."""
    replaced = dataclasses.replace(load_target(name), render_fn=render)  # type: ignore[type-var]
    mp.setitem(REGISTRY, name, lambda: replaced)


def test_buckets_balance_the_cost_and_keep_registry_order() -> None:
    names = list(REGISTRY)
    split = render_jobs.buckets(names, 2)
    assert sorted(n for b in split for n in b) == sorted(names)
    heavy = next(b for b in split if "monitoring" in b)
    assert "kubernetes" not in heavy and "docs" not in heavy
    costs = [sum(render_jobs.COST.get(n, 2) for n in b) for b in split]
    assert max(costs) - min(costs) <= max(render_jobs.COST.values()) // 4
    for bucket in split:
        assert bucket == [n for n in names if n in bucket]
    assert render_jobs.buckets(names, 1) == [names]
    assert len(render_jobs.buckets(["docs", "feast"], 8)) == 2


def test_a_target_error_in_a_child_is_the_serial_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan, names = _plan(tmp_path)
    assert "feast" in names and "docs" in names

    def fails(code: str) -> object:
        def render(plan: Plan) -> list[object]:
            raise TargetError(code, f"{code} cannot be built", ("models", 0, "name"), "a hint")

        return render

    for failing in (["docs"], ["feast", "docs"], ["kubernetes", "monitoring"]):
        with monkeypatch.context() as mp:
            for name in failing:
                _replace(mp, name, fails(name))
            errors = []
            for jobs in (1, 2, 3):
                with pytest.raises(TargetError) as caught:
                    render_jobs.render_targets(plan, names, jobs=jobs)
                errors.append((caught.value.code, str(caught.value), caught.value.path))
            first = next(n for n in names if n in failing)
            assert errors == [(first, f"{first} cannot be built", ("models", 0, "name"))] * 3


def test_a_child_that_fails_otherwise_has_its_bucket_rendered_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash of a forked process (here: only in the child) costs time, not the build."""
    plan, names = _plan(tmp_path)
    serial = render_jobs.render_targets(plan, names, jobs=1)
    parent = os.getpid()
    target = load_target("kubernetes")
    real = target.render

    def crashes_in_child(plan: Plan) -> object:
        if os.getpid() != parent:
            os._exit(7)
        return real(plan)

    _replace(monkeypatch, "kubernetes", crashes_in_child)
    split = render_jobs.buckets(names, 2)
    assert "kubernetes" not in split[0]  # so that it is rendered by the child
    assert render_jobs.render_targets(plan, names, jobs=2) == serial


def test_a_bug_raises_as_it_would_serially(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plan, names = _plan(tmp_path)

    def broken(plan: Plan) -> object:
        raise KeyError("a bug")

    _replace(monkeypatch, "docs", broken)
    for jobs in (1, 2):
        with pytest.raises(KeyError, match="a bug"):
            render_jobs.render_targets(plan, names, jobs=jobs)
    assert _no_children_left()


def _no_children_left() -> bool:
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


def test_jobs_follow_the_environment_and_the_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan, _ = _plan(tmp_path)
    monkeypatch.delenv("MLOPSC_JOBS", raising=False)
    assert len(plan.models) < render_jobs.PARALLEL_FROM
    assert render_jobs.jobs_for(plan) == 1
    for value, jobs in (("4", 4), ("1", 1), ("0", 1), ("many", 1)):
        monkeypatch.setenv("MLOPSC_JOBS", value)
        assert render_jobs.jobs_for(plan) == jobs
