"""Alerting as a running system sees it: routing per environment (amtool), spec text that
stays text in Go templates (promtool, amtool), two projects in one Prometheus, idle windows,
the low-traffic guard on both windows, and one PrometheusRule object per model."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import require_tool, run_mlopsc
from tests.test_monitoring import AMTOOL, DIGEST, promtool

HOSTILE = '{{ with query "up" }}{{ . }}{{ end }} {{ template "x" }} {{{ a } {'

SPEC = """\
apiVersion: mlopsc/v1
kind: MLOpsProject
metadata: {{name: {project}, owner: ml-team}}
teams:
  - name: ml-team
    email: ml@example.com
    slack: {slack}
    pagerduty_service: PABC123
environments:
  - {{name: dev, namespace: {ns}-dev}}
  - {{name: staging, namespace: {ns}-staging, pages: true}}
  - name: prod
    namespace: {ns}-prod
    approval: {{required: true, reviewers: [ml-team]}}
  - name: perf
    namespace: {ns}-perf
    pages: false
    approval: {{required: true, reviewers: [ml-team]}}
models:
  - name: ranker
    version: 1.0.0
    framework: sklearn
    artifact: {{uri: "s3://models/ranker/1.0.0/", digest: "{digest}"}}
    serving:
      mode: realtime
      runtime: deployment
      image: "ghcr.io/acme/ranker@{digest}"
      resources: {{cpu: "1", memory: 1Gi}}
slos:
  - name: ranker-slo
    model: ranker
    objective: 99.9
    window: 30d
    description: {description}
    sli: {{availability: {{}}}}
{alerting}"""


def build(
    tmp: Path,
    *,
    project: str = "shop",
    ns: str | None = None,
    slack: str = "'#ml'",
    description: str = "'Ranking API.'",
    alerting: str = "",
) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    spec = tmp / "mlops.yaml"
    spec.write_text(
        SPEC.format(
            project=project,
            ns=ns or project,
            slack=slack,
            description=description,
            digest=DIGEST,
            alerting=alerting,
        ),
        encoding="utf-8",
    )
    out = tmp / "out"
    result = run_mlopsc("build", str(spec), "-o", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    tool = require_tool("amtool", AMTOOL)
    return subprocess.run([tool, *args], capture_output=True, text=True, timeout=120)


def rules_of(out: Path) -> list[dict[str, Any]]:
    doc = yaml.safe_load((out / "monitoring/prometheus/rules/ranker-slo.yaml").read_text())
    rules: list[dict[str, Any]] = doc["groups"][0]["rules"]
    return rules


def alert(out: Path, name: str, window: str | None = None) -> dict[str, Any]:
    return next(
        r
        for r in rules_of(out)
        if r.get("alert") == name and (window is None or r["labels"].get("burn_window") == window)
    )


def firing(out: Path, name: str, windows: list[str], ns: str) -> list[dict[str, Any]]:
    """promtool's exp_alerts for alert `name` firing with these window pairs in `ns`."""
    result = []
    for window in windows:
        rule = alert(out, name, window)
        result.append(
            {
                "exp_labels": {**rule["labels"], "namespace": ns},
                "exp_annotations": rule["annotations"],
            }
        )
    return result


def run_promtool_test(tmp: Path, doc: dict[str, Any]) -> None:
    path = tmp / "test.yaml"
    path.write_text(json.dumps(doc), encoding="utf-8")
    result = promtool("test", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def counter(per_minute: list[float], start: float = 0.0) -> str:
    """promtool's expanding notation for a counter with the given increase each minute."""
    parts, value = [f"{start:g}"], start
    for incr in per_minute:
        value += incr
        parts.append(f"{value:g}")
    return " ".join(parts)


# --- routing per environment -------------------------------------------------------------


ROUTES = [
    # (labels, receiver): pages reach the pager only from environments that page
    ({"severity": "page", "environment": "dev"}, "ml-team"),
    ({"severity": "page", "environment": "staging"}, "ml-team-pager"),  # pages: true
    ({"severity": "page", "environment": "prod"}, "ml-team-pager"),  # approval: default
    ({"severity": "page", "environment": "perf"}, "ml-team"),  # pages: false
    ({"severity": "ticket", "environment": "prod"}, "ml-team"),
    # the plain rule files carry the namespace only
    ({"severity": "page", "namespace": "shop-prod"}, "ml-team-pager"),
    ({"severity": "page", "namespace": "shop-dev"}, "ml-team"),
    ({"severity": "page", "namespace": "shop-perf"}, "ml-team"),
]


def test_routes_per_environment(tmp_path: Path) -> None:
    out = build(tmp_path)
    routes = out / "monitoring/alertmanager/routes.yaml"
    checked = amtool("check-config", str(routes))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    for labels, receiver in ROUTES:
        args = [f"{k}={v}" for k, v in {"project": "shop", "owner": "ml-team", **labels}.items()]
        result = amtool(
            "config",
            "routes",
            "test",
            f"--config.file={routes}",
            f"--verify.receivers={receiver}",
            *args,
        )
        assert result.returncode == 0, (labels, result.stdout + result.stderr)
    # another project's alerts, even from the same team name, reach none of this project's teams
    other = amtool(
        "config",
        "routes",
        "test",
        f"--config.file={routes}",
        "--verify.receivers=mlopsc-unrouted",
        "project=mall",
        "owner=ml-team",
        "severity=page",
        "environment=prod",
    )
    assert other.returncode == 0, other.stdout + other.stderr


def test_one_incident_is_one_notification_per_severity(tmp_path: Path) -> None:
    """Both window pairs of a severity share the alert name, which Alertmanager groups by."""
    out = build(tmp_path)
    config = yaml.safe_load((out / "monitoring/alertmanager/routes.yaml").read_text())
    group_by = config["route"]["group_by"]
    pages = [r for r in rules_of(out) if r.get("labels", {}).get("severity") == "page"]
    assert {r["alert"] for r in pages} == {"RankerSloBurnRatePage"}
    assert sorted(r["labels"]["burn_window"] for r in pages) == ["30m6h", "5m1h"]
    assert "burn_window" not in group_by and "alertname" in group_by


# --- Go templates --------------------------------------------------------------------------


def test_hostile_description_stays_text_in_alerts(tmp_path: Path) -> None:
    """promtool expands annotations as Prometheus does: the text comes out literally."""
    out = build(tmp_path, description=json.dumps(HOSTILE))
    rules = out / "monitoring/prometheus/rules/ranker-slo.yaml"
    exp = firing(out, "RankerSloBurnRatePage", ["30m6h", "5m1h"], "shop-prod")
    for item, (share, window) in zip(exp, (("5", "6h"), ("2", "1h")), strict=True):
        escaped = item["exp_annotations"]["description"]
        assert "{{ with" not in escaped and "{{{" not in escaped
        # what Prometheus shows once it has expanded the template
        item["exp_annotations"]["description"] = (
            f"At this rate {share}% of the 30d error budget is spent within {window}. {HOSTILE}"
        )
    run_promtool_test(
        tmp_path,
        {
            "rule_files": [str(rules)],
            "evaluation_interval": "1m",
            "tests": [
                {
                    "interval": "1m",
                    "input_series": [
                        {
                            "series": 'http_requests_total{service="shop-ranker",code="200",'
                            'namespace="shop-prod"}',
                            "values": "0+50x30",
                        },
                        {
                            "series": 'http_requests_total{service="shop-ranker",code="500",'
                            'namespace="shop-prod"}',
                            "values": "0+50x30",
                        },
                        {"series": 'up{job="x"}', "values": "1+0x30"},
                    ],
                    "alert_rule_test": [
                        {
                            "eval_time": "30m",
                            "alertname": "RankerSloBurnRatePage",
                            "exp_alerts": exp,
                        }
                    ],
                }
            ],
        },
    )


def test_hostile_slack_channel_stays_text(tmp_path: Path) -> None:
    out = build(tmp_path, slack=json.dumps(HOSTILE))
    routes = out / "monitoring/alertmanager/routes.yaml"
    checked = amtool("check-config", str(routes))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    config = yaml.safe_load(routes.read_text())
    slack = next(r for r in config["receivers"] if r["name"] == "ml-team")["slack_configs"][0]
    empty = tmp_path / "empty.tmpl"
    empty.write_text("")
    rendered = amtool(
        "template", "render", f"--template.glob={empty}", f"--template.text={slack['channel']}"
    )
    assert rendered.returncode == 0, rendered.stderr
    assert rendered.stdout.rstrip("\n") == HOSTILE
    # mlopsc's own templates stay live
    title = amtool(
        "template", "render", f"--template.glob={empty}", f"--template.text={slack['title']}"
    )
    assert "{{" not in title.stdout


def test_gotemplate_literal_unit() -> None:
    from compiler.render.gotemplate import literal

    assert literal("plain text") == "plain text"
    assert "{{" not in literal("{{").replace('{{"{"}}', "")
    assert literal("a{") + "{{ .X }}" == 'a{{"{"}}{{ .X }}'


# --- scoping, idle windows, the guard -----------------------------------------------------


def test_two_projects_in_one_prometheus(tmp_path: Path) -> None:
    """Same SLO, model and namespace names: each project records and alerts on its own."""
    shop = build(tmp_path / "shop", project="shop", ns="ml")
    mall = build(tmp_path / "mall", project="mall", ns="ml")
    files = [str(o / "monitoring/prometheus/rules/ranker-slo.yaml") for o in (shop, mall)]
    exp = firing(shop, "RankerSloBurnRatePage", ["30m6h", "5m1h"], "ml-prod")
    run_promtool_test(
        tmp_path,
        {
            "rule_files": files,
            "evaluation_interval": "1m",
            "tests": [
                {
                    "interval": "1m",
                    "input_series": [
                        {
                            "series": f'http_requests_total{{service="{p}-ranker",code="{c}",'
                            'namespace="ml-prod"}',
                            "values": f"0+{v}x60",
                        }
                        for p, c, v in (
                            ("shop", "200", 50),
                            ("shop", "500", 50),
                            ("mall", "200", 100),
                        )
                    ],
                    "alert_rule_test": [
                        {
                            "eval_time": "60m",
                            "alertname": "RankerSloBurnRatePage",
                            "exp_alerts": exp,
                        }
                    ],
                }
            ],
        },
    )


def test_idle_window_records_nothing(tmp_path: Path) -> None:
    """Ten idle minutes leave no 0/0 sample behind: the 30-day budget figure stays a number."""
    out = build(tmp_path)
    rules = out / "monitoring/prometheus/rules/ranker-slo.yaml"
    traffic = [60.0] * 30 + [0.0] * 10 + [60.0] * 10
    labels = 'project="shop",slo="ranker-slo",namespace="shop-prod"'
    run_promtool_test(
        tmp_path,
        {
            "rule_files": [str(rules)],
            "evaluation_interval": "1m",
            "tests": [
                {
                    "interval": "1m",
                    "input_series": [
                        {
                            "series": 'http_requests_total{service="shop-ranker",code="200",'
                            'namespace="shop-prod"}',
                            "values": counter(traffic),
                        },
                        {
                            "series": 'http_requests_total{service="shop-ranker",code="500",'
                            'namespace="shop-prod"}',
                            "values": counter([0.0] * 50),
                        },
                    ],
                    "promql_expr_test": [
                        {
                            "expr": f"slo:sli_error:ratio_rate5m{{{labels}}}",
                            "eval_time": "38m",
                            "exp_samples": [],
                        },
                        {
                            "expr": f"slo:period_error_budget_remaining:ratio{{{labels}}}",
                            "eval_time": "50m",
                            "exp_samples": [
                                {
                                    "labels": "slo:period_error_budget_remaining:ratio{"
                                    f"{labels}}}",
                                    "value": 1,
                                }
                            ],
                        },
                    ],
                }
            ],
        },
    )


@pytest.mark.parametrize(("last_rate", "fires"), [(0.1, False), (1.0, True)])
def test_low_traffic_guard_judges_both_windows(
    tmp_path: Path, last_rate: float, fires: bool
) -> None:
    """An hour of failing traffic, then ten minutes at `last_rate` req/s, all failing: with
    min_request_rate 0.5 the 1h window has enough traffic, the 5m window only at 1 req/s."""
    out = build(tmp_path, alerting="    alerting: {min_request_rate: 0.5}\n")
    rules = out / "monitoring/prometheus/rules/ranker-slo.yaml"
    errors = [60.0] * 60 + [60.0 * last_rate] * 10
    exp = firing(out, "RankerSloBurnRatePage", ["5m1h"], "shop-prod")
    run_promtool_test(
        tmp_path,
        {
            "rule_files": [str(rules)],
            "evaluation_interval": "1m",
            "tests": [
                {
                    "interval": "1m",
                    "input_series": [
                        {
                            "series": 'http_requests_total{service="shop-ranker",code="500",'
                            'namespace="shop-prod"}',
                            "values": counter(errors),
                        }
                    ],
                    "alert_rule_test": [
                        {
                            "eval_time": "70m",
                            "alertname": "RankerSloBurnRatePage",
                            "exp_alerts": exp if fires else [],
                        }
                    ],
                }
            ],
        },
    )


# --- PrometheusRule objects ------------------------------------------------------------------


def test_one_prometheus_rule_per_model(tmp_path: Path) -> None:
    out = build(tmp_path)
    for env in ("dev", "staging", "prod", "perf"):
        docs = list(
            yaml.safe_load_all((out / f"kubernetes/{env}/prometheus-rules.yaml").read_text())
        )
        assert [d["metadata"]["name"] for d in docs] == ["shop-ranker-slos"]
        for group in docs[0]["spec"]["groups"]:
            for rule in group["rules"]:
                assert rule["labels"]["environment"] == env
                assert (
                    'namespace="shop-' + env + '"' in rule["expr"]
                    or "namespace" not in rule["expr"]
                )
