"""The burn-rate alerts against an independent implementation of the SRE workbook's
multi-window, multi-burn-rate alerts ("Alerting on SLOs", table 5-8), written here in plain
Python from the workbook's definitions, not from compiler/slo.py: on the same synthetic series
(an outage, a slow burn, steady healthy traffic, no traffic), what promtool evaluates from the
generated rules must be what the workbook says, minute by minute.

The reference follows the workbook (and Sloth, which generates the same rules): an alert of
a window pair is on while the error ratio over both its long and its short window exceeds
factor x budget. It adds mlopsc's deliberate differences, so that they are the only ones
(docs/monitoring.md, "Differences from Sloth"): each pair must hold for its `for:`, and an
evaluation within 2% of a threshold is not asserted (`>` against `>=` at exactly the factor).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.test_alerting import build, counter
from tests.test_monitoring import promtool

MINUTE = 1
HOUR = 60 * MINUTE
DAY = 24 * HOUR
BUDGET = 0.001  # objective 99.9%
# The workbook's table for a 30-day SLO: (severity, short, long, burn factor), minutes.
WORKBOOK = (
    ("page", 5, HOUR, 14.4),
    ("page", 30, 6 * HOUR, 6.0),
    ("ticket", 2 * HOUR, DAY, 3.0),
    ("ticket", 6 * HOUR, 3 * DAY, 1.0),
)
# mlopsc's `for:` per pair, as documented: 2/5 of the short window, at least 1m.
HOLD = {5: 2, 30: 12, 2 * HOUR: 48, 6 * HOUR: 144}
MARGIN = 0.02
RATE = 600.0  # requests per minute

# name → [(minutes, error ratio, requests per minute)]
SCENARIOS: dict[str, list[tuple[int, float, float]]] = {
    "outage": [(120, 0.0, RATE), (30, 0.2, RATE), (90, 0.0, RATE)],
    "slow burn": [(480, 0.004, RATE)],
    "steady healthy": [(480, 0.0005, RATE)],
    "no traffic": [(480, 0.0, 0.0)],
}


def per_minute(segments: list[tuple[int, float, float]]) -> tuple[list[float], list[float]]:
    requests: list[float] = []
    errors: list[float] = []
    for minutes, ratio, rate in segments:
        requests += [rate] * minutes
        errors += [rate * ratio] * minutes
    return requests, errors


def ratio(cum_req: list[float], cum_err: list[float], t: int, window: int) -> float | None:
    """Errors / requests over the minutes (t - window, t]; None without a request. Before the
    series began there is nothing: the window is what exists."""
    start = max(0, t - window)
    total = cum_req[t] - cum_req[start]
    return None if total <= 0 else (cum_err[t] - cum_err[start]) / total


def cumulative(values: list[float]) -> list[float]:
    out = [0.0]
    for value in values:
        out.append(out[-1] + value)
    return out


def reference(
    segments: list[tuple[int, float, float]], t: int
) -> dict[str, dict[str, bool | None]]:
    """severity → {short+long label → on at minute t (None: too close to call)}."""
    requests, errors = per_minute(segments)
    cum_req, cum_err = cumulative(requests), cumulative(errors)
    result: dict[str, dict[str, bool | None]] = {}
    for severity, short, long, factor in WORKBOOK:
        limit = factor * BUDGET
        states: list[bool | None] = []
        for u in range(t - HOLD[short], t + 1):
            state: bool | None = True
            for window in (short, long):
                value = ratio(cum_req, cum_err, u, window) if u >= 1 else None
                if value is None or value < limit * (1 - MARGIN):
                    state = False
                    break
                if value <= limit * (1 + MARGIN):
                    state = None
            states.append(state)
        verdict = False if False in states else (None if None in states else True)
        result.setdefault(severity, {})[label(short) + label(long)] = verdict
    return result


def label(minutes: int) -> str:
    if minutes % DAY == 0:
        return f"{minutes // DAY}d"
    if minutes % HOUR == 0:
        return f"{minutes // HOUR}h"
    return f"{minutes}m"


def expected_alerts(
    rules: list[dict[str, Any]], severity: str, windows: list[str]
) -> list[dict[str, Any]]:
    out = []
    for window in windows:
        rule = next(
            r
            for r in rules
            if r.get("labels", {}).get("severity") == severity
            and r["labels"].get("burn_window") == window
        )
        labels = {**rule["labels"], "namespace": "shop-prod"}
        out.append({"exp_labels": labels, "exp_annotations": rule["annotations"]})
    return out


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_rules_agree_with_the_workbook(tmp_path: Path, scenario: str) -> None:
    out = build(tmp_path)
    path = out / "monitoring/prometheus/rules/ranker-slo.yaml"
    rules = yaml.safe_load(path.read_text())["groups"][0]["rules"]
    names = {"page": "RankerSloBurnRatePage", "ticket": "RankerSloBurnRateTicket"}
    segments = SCENARIOS[scenario]
    requests, errors = per_minute(segments)
    end = len(requests)
    asserts = []
    fired = set()
    for t in range(10, end + 1, 10):
        for severity, pairs in reference(segments, t).items():
            if None in pairs.values():
                continue
            on = sorted(w for w, state in pairs.items() if state)
            fired.update((severity, w) for w in on)
            asserts.append(
                {
                    "eval_time": f"{t}m",
                    "alertname": names[severity],
                    "exp_alerts": expected_alerts(rules, severity, on),
                }
            )
    base = 'http_requests_total{service="shop-ranker",namespace="shop-prod",code="%s"}'
    good = [r - e for r, e in zip(requests, errors, strict=True)]
    doc = {
        "rule_files": [str(path)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "name": scenario,
                "interval": "1m",
                "input_series": [
                    # counters that start far from 0, so that rate() extrapolates both alike
                    {"series": base % "200", "values": counter(good, start=1e6)},
                    {"series": base % "500", "values": counter(errors, start=1e3)},
                ],
                "alert_rule_test": asserts,
            }
        ],
    }
    test = tmp_path / "reference.yaml"
    test.write_text(json.dumps(doc), encoding="utf-8")
    result = promtool("test", "rules", str(test))
    assert result.returncode == 0, result.stdout + result.stderr
    # The scenarios mean what their names say (so that this test can fail for the right reason).
    assert len(asserts) >= end // 10
    if scenario == "outage":
        assert {("page", "5m1h"), ("page", "30m6h")} <= fired
    elif scenario == "slow burn":
        assert ("ticket", "2h1d") in fired and not any(s == "page" for s, _ in fired)
    else:
        assert not fired
