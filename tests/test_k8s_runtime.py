"""Kubernetes runtime behaviour from small specs: where training runs, request logging sinks,
canaries (unit level; the examples' outputs are judged by the checkers in test_kubernetes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from compiler.plan import Plan, build_plan
from compiler.targets.kubernetes import model_objects
from tests.helpers import BASE, check_text, codes, edit


def plan_of(tmp_path: Path, text: str) -> Plan:
    checked, sink = check_text(tmp_path, text)
    assert checked is not None and not sink.has_errors, [(d.code, d.message) for d in sink.sorted()]
    return build_plan(checked)


def objects(plan: Plan, env: str, model: str = "recommender") -> list[dict[str, Any]]:
    ep = next(e for e in plan.environments if e.name == env)
    mp = next(m for m in ep.models if m.name == model)
    return model_objects(plan, mp)


def by_name(objs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {f"{o['kind']}/{o['metadata']['name']}": o for o in objs}


def test_training_runs_on_kubernetes_by_default_in_the_first_environment(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, BASE)
    assert plan.trains_on == {"recommender": "kubernetes"}
    staging = by_name(objects(plan, "staging"))
    job = staging["CronJob/shop-recommender-train"]
    assert job["spec"]["schedule"] == "0 3 * * *" and "suspend" not in job["spec"]
    pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
    # the gate reads the run's metrics beside the artifact
    assert env["MLOPSC_METRICS_URI"] == "s3://shop/models/recommender/1.0.0/metrics.json"
    assert pod["containers"][0]["resources"]["limits"] == {"cpu": "1", "memory": "2Gi"}
    assert not any(k.endswith("-train") for k in by_name(objects(plan, "production")))


def test_training_on_ci_has_no_cronjob(tmp_path: Path) -> None:
    plan = plan_of(
        tmp_path,
        edit(BASE, ("      data: [orders]\n", "      data: [orders]\n      runs_on: ci\n")),
    )
    assert plan.trains_on == {"recommender": "ci"}
    assert all(mp.trains_on == "ci" for ep in plan.environments for mp in ep.models)
    for env in ("staging", "production"):
        assert not any(k.endswith("-train") for k in by_name(objects(plan, env)))


def test_training_without_schedule_is_a_suspended_cronjob(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, edit(BASE, ('      schedule: "0 3 * * *"\n', "")))
    job = by_name(objects(plan, "staging"))["CronJob/shop-recommender-train"]
    assert job["spec"]["suspend"] is True


def test_runs_on_accepts_only_kubernetes_or_ci(tmp_path: Path) -> None:
    checked, sink = check_text(
        tmp_path,
        edit(BASE, ("      data: [orders]\n", "      data: [orders]\n      runs_on: gpu-farm\n")),
    )
    assert checked is None and codes(sink) and all(c.startswith("MLC2") for c in codes(sink))
