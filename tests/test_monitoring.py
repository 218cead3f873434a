"""The monitoring target: every output judged by its real tool (promtool, amtool, the CRD)."""

from __future__ import annotations

import json
import shutil
import subprocess
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import EXAMPLES, example_ids, require_tool, run_mlopsc
from tests.crd_validate import validate_paths

PROMTOOL = "apt-get install -y prometheus"
AMTOOL = "apt-get install -y prometheus-alertmanager"
DIGEST = "sha256:" + "a" * 64

SPEC = """\
apiVersion: mlopsc/v1
kind: MLOpsProject
metadata: {{name: shop, owner: ml-team, repository: github.com/acme/shop}}
teams:
  - {{name: ml-team, email: ml@example.com, slack: "#ml", pagerduty_service: PABC123}}
environments:
  - name: prod
    namespace: shop-prod
    approval: {{required: true, reviewers: [ml-team]}}
sources:
  - {{name: events, kind: file, path: "s3://b/events/", timestamp_field: ts, owner: ml-team}}
entities:
  - {{name: user, join_keys: [user_id]}}
features:
  - name: user_stats
    entity: user
    source: events
    ttl: 1d
    fields: [{{name: clicks, dtype: int64}}]
models:
  - name: ranker
    version: 1.0.0
    framework: sklearn
    artifact: {{uri: "s3://models/ranker/1.0.0/", digest: "{digest}"}}
    features: [user_stats:clicks]
    training:
      image: "ghcr.io/acme/train@{digest}"
      schedule: "0 3 * * 1"
      resources: {{cpu: "1", memory: 1Gi}}
    serving:
      mode: realtime
      runtime: {runtime}
      image: "ghcr.io/acme/ranker@{digest}"
      resources: {{cpu: "1", memory: 1Gi}}
    monitoring:
      drift:
        features: [user_stats:clicks]
        threshold: 0.2
        reference: s3://features/reference/
        current: s3://features/current/
        pushgateway: http://pushgateway.monitoring:9091
slos:
  - name: ranker-slo
    model: ranker
    objective: {objective}
    window: {window}
    sli: {sli}
    alerting: {{min_request_rate: 0.5}}
"""

SLIS = {
    "availability": "{availability: {}}",
    "latency": "{latency: {threshold: 250ms}}",
    "events": (
        "{events: {error_query: 'sum(rate(app_errors_total[{{window}}]))', "
        "total_query: 'sum(rate(app_requests_total[{{window}}]))'}}"
    ),
    "drift": "{drift: {feature: 'user_stats:clicks', threshold: 0.2}}",
    "freshness": "{freshness: {max_age: 8d}}",
}


def build_spec(
    tmp: Path,
    *,
    sli: str = "availability",
    window: str = "30d",
    runtime: str = "deployment",
    objective: float = 99.9,
) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    spec = tmp / "mlops.yaml"
    spec.write_text(
        SPEC.format(
            digest=DIGEST, runtime=runtime, objective=objective, window=window, sli=SLIS[sli]
        ),
        encoding="utf-8",
    )
    out = tmp / "out"
    result = run_mlopsc("build", str(spec), "-o", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    tool = require_tool("promtool", PROMTOOL)
    return subprocess.run([tool, *args], capture_output=True, text=True, cwd=cwd, timeout=600)


def check_monitoring(out: Path) -> None:
    rules = sorted((out / "monitoring/prometheus/rules").glob("*.yaml"))
    tests = sorted((out / "monitoring/prometheus/tests").glob("*.yaml"))
    assert rules and len(rules) == len(tests)
    # --lint-fatal: promtool 2.42 only prints duplicate-rule findings and exits 0 without it.
    checked = promtool("check", "rules", "--lint-fatal", *map(str, rules))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "FAILED" not in checked.stdout + checked.stderr
    tested = promtool("test", "rules", *map(str, tests))
    assert tested.returncode == 0, tested.stdout + tested.stderr


@pytest.mark.parametrize("name", example_ids())
def test_example_rules_pass_promtool(built_examples: dict[str, Path], name: str) -> None:
    out = built_examples[name]
    if not (out / "monitoring/prometheus/rules").is_dir():
        pytest.skip("example declares no SLO")
    started = time.monotonic()
    check_monitoring(out)
    print(f"{name}: promtool test rules took {time.monotonic() - started:.1f}s")


@pytest.mark.parametrize(
    ("slo", "kept"),
    [
        ("fraud-availability", 'namespace="payments-ml-staging"'),
        ("fraud-drift", 'namespace="payments-ml-staging"'),
    ],
)
def test_promtool_tests_catch_a_rule_that_stops_reading_a_namespace(
    built_examples: dict[str, Path], tmp_path: Path, slo: str, kept: str
) -> None:
    """Every scenario feeds healthy series to the SLO's other namespaces: a burn alerts only
    where it burns, and a rule whose selector lost a namespace (that namespace's SLI silently
    unread) fails the generated tests instead of passing them."""
    prom = tmp_path / "prometheus"
    shutil.copytree(built_examples["payments-ml"] / "monitoring/prometheus", prom)
    test = yaml.safe_load((prom / "tests" / f"{slo}.yaml").read_text())
    for case in test["tests"][:-1]:  # the last one feeds no series at all
        fed = " ".join(series["series"] for series in case["input_series"])
        assert "payments-ml-staging" in fed and "payments-ml-prod" in fed, case["name"]
    assert promtool("test", "rules", f"tests/{slo}.yaml", cwd=prom).returncode == 0
    rules = prom / "rules" / f"{slo}.yaml"
    both = 'namespace=~"payments-ml-prod|payments-ml-staging"'
    text = rules.read_text()
    assert both in text
    rules.write_text(text.replace(both, kept))
    broken = promtool("test", "rules", f"tests/{slo}.yaml", cwd=prom)
    assert broken.returncode != 0
    assert "NoData" in broken.stdout + broken.stderr


@pytest.mark.parametrize("name", example_ids())
def test_example_outputs_start_with_the_header(built_examples: dict[str, Path], name: str) -> None:
    for path in sorted((built_examples[name] / "monitoring").rglob("*")):
        if path.suffix == ".yaml":
            assert path.read_text().startswith("# Generated by mlopsc"), path
        elif path.suffix == ".json":
            assert json.loads(path.read_text())["description"].startswith("Generated by mlopsc")


@pytest.mark.parametrize("name", example_ids())
def test_example_prometheus_rules_match_the_crd(built_examples: dict[str, Path], name: str) -> None:
    files = sorted(built_examples[name].glob("kubernetes/*/prometheus-rules.yaml"))
    slos = list((built_examples[name] / "monitoring/prometheus/rules").glob("*.yaml"))
    assert bool(files) == bool(slos)
    if not files:
        return
    report = validate_paths(files)
    objects = sum(len(list(yaml.safe_load_all(path.read_text()))) for path in files)
    assert report.errors == [] and report.checked == objects
    for path in files:
        env = path.parent.name
        assert (
            "prometheus-rules.yaml"
            in yaml.safe_load((path.parent / "kustomization.yaml").read_text())["resources"]
        )
        for doc in yaml.safe_load_all(path.read_text()):
            assert doc["metadata"]["name"].endswith("-slos")
            for group in doc["spec"]["groups"]:
                for rule in group["rules"]:
                    assert rule["labels"]["environment"] == env


@pytest.mark.parametrize("name", example_ids())
def test_example_alertmanager_config(built_examples: dict[str, Path], name: str) -> None:
    routes = built_examples[name] / "monitoring/alertmanager/routes.yaml"
    if not routes.exists():
        pytest.skip("example declares no SLO")
    amtool = require_tool("amtool", AMTOOL)
    result = subprocess.run([amtool, "check-config", str(routes)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load(routes.read_text())
    spec = EXAMPLES[example_ids().index(name)] / "mlops.yaml"
    project = yaml.safe_load(spec.read_text())["metadata"]["name"]
    names = {r["name"] for r in config["receivers"]}
    for route in config["route"]["routes"]:
        assert route["receiver"] in names
        assert route["matchers"][0] == f'project="{project}"'
        assert route["matchers"][1].startswith('owner="')


@pytest.mark.parametrize("name", example_ids())
def test_example_dashboards(built_examples: dict[str, Path], name: str) -> None:
    out = built_examples[name]
    spec = yaml.safe_load((EXAMPLES[example_ids().index(name)] / "mlops.yaml").read_text())
    boards = sorted((out / "monitoring/grafana").glob("*.json"))
    assert boards
    uids = set()
    for path in boards:
        board = json.loads(path.read_text())
        uids.add(board["uid"])
        assert len(board["uid"]) <= 40
        ids = [p["id"] for p in board["panels"]]
        assert ids == list(range(1, len(ids) + 1))
        for panel in board["panels"]:
            assert panel["targets"] and all(t["expr"] for t in panel["targets"])
    assert len(uids) == len(boards)
    del spec


@pytest.mark.parametrize("sli", sorted(SLIS))
def test_each_sli_kind(tmp_path: Path, sli: str) -> None:
    out = build_spec(tmp_path, sli=sli)
    check_monitoring(out)
    tests = yaml.safe_load((out / "monitoring/prometheus/tests/ranker-slo.yaml").read_text())
    names = [t["name"] for t in tests["tests"]]
    assert any("fast burn" in n for n in names) and any("healthy" in n for n in names)
    fired = {
        (t["name"].split(": ")[1], a["alertname"])
        for t in tests["tests"]
        for a in t["alert_rule_test"]
        if a["exp_alerts"]
    }
    assert ("fast burn pages", "RankerSloBurnRatePage") in fired
    assert ("no data raises the no-data alert", "RankerSloNoData") in fired
    assert not any(scenario.startswith("slow") and "Page" in alert for scenario, alert in fired)
    assert not any(scenario.startswith(("healthy", "idle")) for scenario, _ in fired)


def test_kserve_runtime(tmp_path: Path) -> None:
    for sli in ("availability", "latency"):
        out = build_spec(tmp_path / sli, sli=sli, runtime="kserve")
        check_monitoring(out)
        text = (out / "monitoring/prometheus/rules/ranker-slo.yaml").read_text()
        assert (
            "istio_requests_total" if sli == "availability" else "request_predict_seconds"
        ) in text


@pytest.mark.parametrize("window", ["7d", "28d", "30d", "90d"])
def test_each_window_length(tmp_path: Path, window: str) -> None:
    out = build_spec(tmp_path, window=window)
    check_monitoring(out)


def test_low_objective_caps_the_threshold(tmp_path: Path) -> None:
    out = build_spec(tmp_path, objective=90)
    check_monitoring(out)
    assert (
        ">= (1 * 0.999999)\n" in (out / "monitoring/prometheus/rules/ranker-slo.yaml").read_text()
    )


def test_independent_fourteen_x_burn_pages(tmp_path: Path) -> None:
    """Written by hand, not generated: 1 req/s, 1.44% errors (14.4x a 0.1% budget) pages."""
    out = build_spec(tmp_path)
    rules = out / "monitoring/prometheus/rules/ranker-slo.yaml"
    doc = yaml.safe_load(rules.read_text())
    page = next(
        r
        for r in doc["groups"][0]["rules"]
        if r.get("alert") == "RankerSloBurnRatePage" and r["labels"]["burn_window"] == "5m1h"
    )
    test = tmp_path / "independent.yaml"
    test.write_text(
        textwrap.dedent(f"""\
        rule_files: [{rules}]
        evaluation_interval: 1m
        tests:
          - interval: 1m
            input_series:
              - series: 'http_requests_total{{service="shop-ranker",code="200",namespace="shop-prod"}}'
                values: '0+59.136x90'
              - series: 'http_requests_total{{service="shop-ranker",code="503",namespace="shop-prod"}}'
                values: '0+0.864x90'
            alert_rule_test:
              - eval_time: 90m
                alertname: RankerSloBurnRatePage
                exp_alerts:
                  - exp_labels:
                      severity: page
                      burn_window: 5m1h
                      project: shop
                      slo: ranker-slo
                      model: ranker
                      owner: ml-team
                      namespace: shop-prod
                    exp_annotations: {json.dumps(page["annotations"])}
          - interval: 1m
            input_series:
              - series: 'http_requests_total{{service="shop-ranker",code="200",namespace="shop-prod"}}'
                values: '0+59.97x400'
              - series: 'http_requests_total{{service="shop-ranker",code="500",namespace="shop-prod"}}'
                values: '0+0.03x400'
            alert_rule_test:
              - {{eval_time: 400m, alertname: RankerSloBurnRatePage, exp_alerts: []}}
              - {{eval_time: 400m, alertname: RankerSloBurnRateTicket, exp_alerts: []}}
              - {{eval_time: 400m, alertname: RankerSloNoData, exp_alerts: []}}
        """)
    )
    result = promtool("test", "rules", str(test))
    assert result.returncode == 0, result.stdout + result.stderr
