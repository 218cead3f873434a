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


KSERVE = (
    "      resources: {cpu: 500m, memory: 1Gi}\n",
    "      resources: {cpu: 500m, memory: 1Gi}\n      runtime: kserve\n",
)


def test_kserve_request_logging_needs_a_sink_from_the_spec(tmp_path: Path) -> None:
    text = edit(
        BASE,
        KSERVE,
        ("      mode: realtime\n", "      mode: realtime\n      request_logging: true\n"),
    )
    checked, sink = check_text(tmp_path, text)
    assert checked is None
    (problem,) = [d for d in sink.sorted() if d.code == "MLC314"]
    assert "needs 'request_log_url'" in problem.message
    line = text.splitlines().index("      request_logging: true") + 1
    assert (problem.span.line, problem.span.column) == (line, 24)
    url = "http://inference-logs.observability.svc.cluster.local/shop"
    plan = plan_of(
        tmp_path,
        edit(
            text,
            (
                "      request_logging: true\n",
                f"      request_logging: true\n      request_log_url: {url}\n",
            ),
        ),
    )
    isvc = by_name(objects(plan, "staging"))["InferenceService/shop-recommender"]
    assert isvc["spec"]["predictor"]["logger"] == {"mode": "all", "url": url}


def test_request_logging_switched_on_in_one_environment_is_blamed_there(tmp_path: Path) -> None:
    text = edit(
        BASE,
        KSERVE,
        (
            "      resources: {cpu: 500m, memory: 1Gi}\n",
            "      resources: {cpu: 500m, memory: 1Gi}\n      overrides:\n        production: {request_logging: true}\n",
        ),
    )
    _, sink = check_text(tmp_path, text)
    (problem,) = [d for d in sink.sorted() if d.code == "MLC314"]
    assert problem.message.endswith("(in environment 'production')")
    assert (
        problem.span.line
        == text.splitlines().index("        production: {request_logging: true}") + 1
    )


def test_deployment_servers_get_the_log_sink_in_their_config(tmp_path: Path) -> None:
    url = "https://logs.example.com/ingest"
    plan = plan_of(
        tmp_path,
        edit(
            BASE,
            (
                "      mode: realtime\n",
                f"      mode: realtime\n      request_logging: true\n      request_log_url: {url}\n",
            ),
        ),
    )
    config = by_name(objects(plan, "staging"))["ConfigMap/shop-recommender-config"]["data"]
    assert config["MLOPSC_REQUEST_LOGGING"] == "true" and config["MLOPSC_REQUEST_LOG_URL"] == url
    plain = plan_of(
        tmp_path,
        edit(
            BASE, ("      mode: realtime\n", "      mode: realtime\n      request_logging: true\n")
        ),
    )
    data = by_name(objects(plain, "staging"))["ConfigMap/shop-recommender-config"]["data"]
    assert "MLOPSC_REQUEST_LOG_URL" not in data  # the server logs to stdout


def kubelet_expand(word: str, env: dict[str, str]) -> str:
    """Kubernetes' expansion of a container's command and args (k8s.io/kubernetes
    third_party/forked/golang/expansion): `$(NAME)` of a defined variable is its value, `$$` is
    `$`, anything else stays as written."""
    out, i = [], 0
    while i < len(word):
        if word.startswith("$$", i):
            out.append("$")
            i += 2
        elif word.startswith("$(", i) and ")" in word[i:]:
            end = word.index(")", i)
            name = word[i + 2 : end]
            out.append(env[name] if name in env else word[i : end + 1])
            i = end + 1
        else:
            out.append(word[i])
            i += 1
    return "".join(out)


def test_training_command_reads_its_parameters_through_kubernetes_expansion(
    tmp_path: Path,
) -> None:
    """`training.command` is the CronJob container's command as written: Kubernetes expands
    `$(NAME)` from the container's own variables (the spec's params among them) and keeps
    `$$(` literal, so a command reads a parameter without a shell and nothing else is reached."""
    command = '["python", "train.py", "--lr=$(MLOPSC_PARAM_LR)", "--note=$$(date)", "$(HOME)"]'
    text = edit(
        BASE,
        ("      data: [orders]\n", f"      data: [orders]\n      command: {command}\n"),
        ("      data: [orders]\n", "      data: [orders]\n      params: {lr: 0.1}\n"),
    )
    job = by_name(objects(plan_of(tmp_path, text), "staging"))["CronJob/shop-recommender-train"]
    (trainer,) = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert trainer["command"] == [
        "python",
        "train.py",
        "--lr=$(MLOPSC_PARAM_LR)",
        "--note=$$(date)",
        "$(HOME)",
    ]
    env = {e["name"]: e["value"] for e in trainer["env"]}
    assert [kubelet_expand(w, env) for w in trainer["command"]] == [
        "python",
        "train.py",
        "--lr=0.1",
        "--note=$(date)",
        "$(HOME)",
    ]
