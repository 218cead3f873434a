"""Canary analysis with Argo Rollouts: the generated AnalysisTemplates' queries judged by promtool
on synthetic series (a healthy canary passes, a failing one fails, no traffic is inconclusive),
and the Rollout's shape from small specs."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from compiler import canary
from compiler.targets.k8s_rollouts import canary_weights
from tests.conftest import require_tool
from tests.helpers import BASE, check_text, edit
from tests.test_k8s_runtime import by_name, objects, plan_of

CANARY = "6f8d9c7b5"  # the canary ReplicaSet's pod-template hash in the synthetic series
STABLE = "5c4b3a291"


def templates(built: dict[str, Path]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for name, out in sorted(built.items()):
        for path in sorted((out / "kubernetes").rglob("model-*.yaml")):
            for doc in yaml.safe_load_all(path.read_text()):
                if doc and doc["kind"] == "AnalysisTemplate":
                    found.append((f"{name}/{path.parent.name}/{path.stem}", doc))
    return found


def series_for(query: str, *, bad: int, total: int, hash_: str) -> list[dict[str, str]]:
    """Counters of one ReplicaSet's pods rising by `total` requests a minute, `bad` of them bad,
    in the shape the query reads (availability: status codes; latency: the bucket at the
    threshold and the count)."""
    labels = re.search(r"\{([^{}]*\{\{args\.[a-z-]+\}\}[^{}]*)\}", query)
    assert labels is not None, query
    base = labels.group(1).replace(f'"{canary.HASH_REF}"', f'"{hash_}"')
    base = re.sub(r',code=~"5\.\."', "", base)
    if "http_requests_total" in query:
        return [
            {
                "series": f'http_requests_total{{{base},code="200"}}',
                "values": f"0+{total - bad}x30",
            },
            {"series": f'http_requests_total{{{base},code="503"}}', "values": f"0+{bad}x30"},
        ]
    le = re.search(r'le="([^"]+)"', query)
    assert le is not None, query
    prefix = re.search(r"([a-z_]+)_count\{", query)
    assert prefix is not None, query
    p = prefix.group(1)
    return [
        {"series": f"{p}_count{{{base}}}", "values": f"0+{total}x30"},
        {"series": f'{p}_bucket{{{base},le="{le.group(1)}"}}', "values": f"0+{total - bad}x30"},
        {"series": f'{p}_bucket{{{base},le="+Inf"}}', "values": f"0+{total}x30"},
    ]


# canary (bad, total) per minute → (success, failure) of the AnalysisTemplate's conditions;
# the stable pods fail badly throughout: only the canary's own series may count
SCENARIOS = {
    "healthy canary passes": ((0, 600), (1, 0)),
    "failing canary fails": ((300, 600), (0, 1)),
    "no traffic is inconclusive": ((0, 0), (0, 0)),
}


def test_analysis_queries_judge_the_canary_alone(
    built_examples: dict[str, Path], tmp_path: Path
) -> None:
    promtool = require_tool("promtool", "apt-get install -y prometheus")
    found = templates(built_examples)
    kinds = {
        "http_requests_total" in m["provider"]["prometheus"]["query"]
        for _, t in found
        for m in t["spec"]["metrics"]
    }
    assert kinds == {True, False}, "both availability and latency analyses are exercised"
    (tmp_path / "none.yaml").write_text("groups: []\n")
    tests = []
    for where, template in found:
        assert template["spec"]["args"] == [{"name": canary.HASH_ARG}]
        for metric in template["spec"]["metrics"]:
            query = metric["provider"]["prometheus"]["query"]
            bound = re.fullmatch(r"result\[0\] <= ([0-9.e-]+)", metric["successCondition"])
            assert bound and metric["failureCondition"] == f"result[0] > {bound.group(1)}"
            ok = query.replace(canary.HASH_REF, CANARY)
            for scenario, ((bad, total), (success, failure)) in SCENARIOS.items():
                series = series_for(query, bad=bad, total=total, hash_=CANARY)
                series += series_for(query, bad=500, total=500, hash_=STABLE)
                tests.append(
                    {
                        "name": f"{where} {metric['name']}: {scenario}",
                        "interval": "1m",
                        "input_series": series,
                        "promql_expr_test": [
                            {
                                "expr": f"({ok}) <= bool {bound.group(1)}",
                                "eval_time": "20m",
                                "exp_samples": [{"labels": "{}", "value": success}],
                            },
                            {
                                "expr": f"({ok}) > bool {bound.group(1)}",
                                "eval_time": "20m",
                                "exp_samples": [{"labels": "{}", "value": failure}],
                            },
                        ],
                    }
                )
            # no series at all (a canary that never started): inconclusive too
            tests.append(
                {
                    "name": f"{where} {metric['name']}: no series",
                    "interval": "1m",
                    "input_series": [],
                    "promql_expr_test": [
                        {
                            "expr": f"({ok}) <= bool 1 or ({ok}) > bool 1",
                            "eval_time": "20m",
                            "exp_samples": [{"labels": "{}", "value": 0}],
                        }
                    ],
                }
            )
    assert len(found) >= 6 and len(tests) >= 6 * 4
    path = tmp_path / "analysis-test.yaml"
    path.write_text(yaml.safe_dump({"rule_files": ["none.yaml"], "tests": tests}, sort_keys=False))
    result = subprocess.run(
        [promtool, "test", "rules", str(path)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_would_catch_a_query_that_ignores_the_canary(tmp_path: Path) -> None:
    """The harness fails when the query reads the stable pods too: the test above can fail."""
    promtool = require_tool("promtool", "apt-get install -y prometheus")
    sel = 'namespace="n",service="s"'
    q = (
        f'((sum(rate(http_requests_total{{{sel},code=~"5.."}}[2m])) or vector(0)) '
        f"/ sum(rate(http_requests_total{{{sel}}}[2m]))) or vector(NaN)"
    )
    both = [
        {
            "series": f'http_requests_total{{{sel},{canary.HASH_SERIES_LABEL}="{CANARY}",code="200"}}',
            "values": "0+600x30",
        },
        {
            "series": f'http_requests_total{{{sel},{canary.HASH_SERIES_LABEL}="{STABLE}",code="503"}}',
            "values": "0+500x30",
        },
    ]
    (tmp_path / "none.yaml").write_text("groups: []\n")
    test = {
        "interval": "1m",
        "input_series": both,
        "promql_expr_test": [
            {
                "expr": f"({q}) <= bool 0.005",
                "eval_time": "20m",
                "exp_samples": [{"labels": "{}", "value": 1}],
            }
        ],
    }
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump({"rule_files": ["none.yaml"], "tests": [test]}))
    result = subprocess.run([promtool, "test", "rules", str(path)], capture_output=True, text=True)
    assert result.returncode != 0


CANARY_SPEC = (
    "      resources: {cpu: 500m, memory: 1Gi}\n",
    "      resources: {cpu: 500m, memory: 1Gi}\n"
    "      rollout: {strategy: canary, canary_percent: 20, analysis_interval: 3m}\n",
)
PROM = "http://prometheus.monitoring.svc:9090"


def with_prometheus(text: str) -> str:
    for ns in ("shop-staging", "shop-prod"):
        text = edit(
            text, (f"    namespace: {ns}\n", f"    namespace: {ns}\n    prometheus_url: {PROM}\n")
        )
    return text


def test_a_deployment_canary_is_a_rollout_judged_by_the_slo(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, with_prometheus(edit(BASE, CANARY_SPEC)))
    objs = by_name(objects(plan, "production"))
    assert "Deployment/shop-recommender" not in objs
    ro = objs["Rollout/shop-recommender"]
    steps = ro["spec"]["strategy"]["canary"]["steps"]
    assert [s.get("setWeight") for s in steps] == [20, None, 50, None]
    assert steps[1]["analysis"]["templates"] == [{"templateName": "shop-recommender-canary"}]
    assert steps[1]["analysis"]["args"] == [
        {"name": "canary-hash", "valueFrom": {"podTemplateHashValue": "Latest"}}
    ]
    at = objs["AnalysisTemplate/shop-recommender-canary"]
    (metric,) = at["spec"]["metrics"]
    assert metric["name"] == "recommender-availability" and metric["interval"] == "3m"
    assert metric["successCondition"] == "result[0] <= 0.005"  # objective 99.5
    assert metric["provider"]["prometheus"]["address"] == PROM
    assert "[3m]" in metric["provider"]["prometheus"]["query"]
    assert (
        objs["HorizontalPodAutoscaler/shop-recommender"]["spec"]["scaleTargetRef"]["kind"]
        == "Rollout"
    )
    sm = objs["ServiceMonitor/shop-recommender"]
    assert sm["spec"]["podTargetLabels"] == ["rollouts-pod-template-hash"]
    # the pods' config is in the template, so a new artifact is a new canary
    env = {e["name"]: e["value"] for e in ro["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["MLOPSC_ARTIFACT_URI"] == "s3://shop/models/recommender/1.0.0/"


def test_a_canary_without_ratio_slos_pauses_instead(tmp_path: Path) -> None:
    text = edit(BASE, CANARY_SPEC, ("      availability: {}\n", "      freshness: {max_age: 2d}\n"))
    plan = plan_of(tmp_path, text)  # no Prometheus needed: nothing is queried
    objs = by_name(objects(plan, "staging"))
    steps = objs["Rollout/shop-recommender"]["spec"]["strategy"]["canary"]["steps"]
    assert steps == [
        {"setWeight": 20},
        {"pause": {"duration": "15m"}},
        {"setWeight": 50},
        {"pause": {"duration": "15m"}},
    ]
    assert not any(k.startswith("AnalysisTemplate/") for k in objs)


def test_a_judged_canary_needs_the_environments_prometheus(tmp_path: Path) -> None:
    text = edit(BASE, CANARY_SPEC)
    checked, sink = check_text(tmp_path, text)
    assert checked is None
    problems = [d for d in sink.sorted() if d.code == "MLC339"]
    lines = text.splitlines()
    assert [(d.span.line, d.message.split(":")[0]) for d in problems] == [
        (lines.index("  - name: staging") + 1, "environment 'staging' needs prometheus_url"),
        (lines.index("  - name: production") + 1, "environment 'production' needs prometheus_url"),
    ]


@pytest.mark.parametrize(
    ("percent", "weights"), [(5, [5, 50]), (49, [49, 50]), (50, [50]), (90, [90])]
)
def test_canary_weights(percent: int, weights: list[int]) -> None:
    assert canary_weights(percent) == weights


KSERVE_CANARY = (
    "      resources: {cpu: 500m, memory: 1Gi}\n",
    "      resources: {cpu: 500m, memory: 1Gi}\n      runtime: kserve\n"
    "      rollout: {strategy: canary, canary_percent: 10}\n",
)
CANDIDATE = (
    "    artifact: {uri: s3://shop/models/recommender/1.0.0/}\n",
    "    artifact: {uri: s3://shop/models/recommender/1.0.0/}\n"
    "    candidate: {version: 1.1.0, artifact: {uri: s3://shop/models/recommender/1.1.0/}}\n",
)


def test_a_kserve_canary_serves_the_candidate_next_to_the_current_version(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, with_prometheus(edit(BASE, KSERVE_CANARY, CANDIDATE)))
    isvc = by_name(objects(plan, "production"))["InferenceService/shop-recommender"]
    stable, (entry,) = isvc["spec"]["predictor"], isvc["spec"]["canary"]
    assert stable["model"]["storageUri"] == "s3://shop/models/recommender/1.0.0/"
    assert entry["trafficPercent"] == 10
    model = entry["predictor"]["model"]
    assert model["name"] == "kserve-container"
    assert model["storageUri"] == "s3://shop/models/recommender/1.1.0/"
    env = {e["name"]: e["value"] for e in model["env"]}
    assert env["MLOPSC_MODEL_VERSION"] == "1.1.0"
    assert entry["predictor"]["labels"]["app.kubernetes.io/version"] == "1.1.0"
    assert stable["labels"]["app.kubernetes.io/version"] == "1.0.0"


def test_a_kserve_canary_judged_at_promotion_needs_the_environments_prometheus(
    tmp_path: Path,
) -> None:
    """The promotion to production runs `mlopsc canary-check` on staging's KServe canary, which
    queries staging's Prometheus: without prometheus_url it could only fail in CI."""
    text = edit(BASE, KSERVE_CANARY, CANDIDATE)
    checked, sink = check_text(tmp_path, text)
    assert checked is None
    (problem,) = [d for d in sink.sorted() if d.code == "MLC339"]
    assert problem.span.line == text.splitlines().index("  - name: staging") + 1
    assert "promotion to 'production' runs `mlopsc canary-check`" in problem.message
    # production is last: nothing promotes from it, so it needs no Prometheus of its own
    staging_only = edit(
        text,
        (
            "    namespace: shop-staging\n",
            f"    namespace: shop-staging\n    prometheus_url: {PROM}\n",
        ),
    )
    checked, sink = check_text(tmp_path, staging_only)
    assert checked is not None and not sink.has_errors
    # without approval, production's promotion has no canary check: nothing to judge
    unapproved = edit(text, ("    approval: {required: true, reviewers: [ml]}\n", ""))
    checked, sink = check_text(tmp_path, unapproved)
    assert not [d for d in sink.sorted() if d.code == "MLC339"]


def test_a_kserve_canary_without_candidate_has_nothing_to_split(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, edit(BASE, KSERVE_CANARY))
    isvc = by_name(objects(plan, "production"))["InferenceService/shop-recommender"]
    assert "canary" not in isvc["spec"]


def test_a_candidate_needs_kserve(tmp_path: Path) -> None:
    text = edit(BASE, CANDIDATE)
    checked, sink = check_text(tmp_path, text)
    assert checked is None
    (problem,) = [d for d in sink.sorted() if d.code == "MLC314"]
    assert problem.span.line == text.splitlines().index(CANDIDATE[1].splitlines()[1]) + 1
    assert "served by a KServe canary" in problem.message
