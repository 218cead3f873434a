"""Grafana dashboards: one per model, with its traffic, its SLOs' budgets and burn rates,
drift and freshness. Panel ids and the uid are fixed by the spec, so re-imports update."""

from __future__ import annotations

from typing import Any

from compiler import conventions_metrics as m
from compiler import slo as s
from compiler.conventions import TRAIN_SUFFIX, workload_name
from compiler.plan import ModelPlan, Plan, SloPlan

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
NS = 'namespace=~"$namespace"'


def _target(expr: str, legend: str, ref: str = "A") -> dict[str, Any]:
    return {"datasource": DATASOURCE, "expr": expr, "legendFormat": legend, "refId": ref}


def _panel(
    pid: int,
    title: str,
    kind: str,
    pos: tuple[int, int, int, int],
    targets: list[dict[str, Any]],
    unit: str,
) -> dict[str, Any]:
    x, y, w, h = pos
    return {
        "id": pid,
        "type": kind,
        "title": title,
        "datasource": DATASOURCE,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {},
        "targets": targets,
    }


def _selector(matchers: tuple[m.Matcher, ...]) -> str:
    parts = [f'{x.label}{"=~" if x.regex else "="}"{x.value}"' for x in matchers]
    return "{" + ",".join([*parts, NS]) + "}"


def _traffic(mp: ModelPlan) -> list[tuple[str, str, list[dict[str, Any]], str]]:
    if mp.serving.mode != "realtime":
        return []
    counter = m.requests(mp.serving.runtime, mp.object_name)
    hist = m.histogram(mp.serving.runtime, mp.object_name)
    req = f"{counter.metric}{_selector(counter.matchers)}"
    bad = f"{counter.metric}{_selector(counter.errors())}"
    code = counter.code_label
    quantiles = [
        _target(
            f"histogram_quantile({q}, sum by (le, namespace) "
            f"(rate({hist.bucket}{_selector(hist.matchers)}[5m])))",
            f"p{int(q * 100)} {{{{namespace}}}}",
            ref,
        )
        for q, ref in ((0.5, "A"), (0.9, "B"), (0.99, "C"))
    ]
    return [
        (
            "Request rate",
            "timeseries",
            [
                _target(
                    f"sum by (namespace, {code}) (rate({req}[5m]))",
                    f"{{{{namespace}}}} {{{{{code}}}}}",
                )
            ],
            "reqps",
        ),
        (
            "Error ratio (5xx)",
            "timeseries",
            [
                _target(
                    f"sum by (namespace) (rate({bad}[5m])) / sum by (namespace) (rate({req}[5m]))",
                    "{{namespace}}",
                )
            ],
            "percentunit",
        ),
        ("Latency percentiles", "timeseries", quantiles, "s"),
    ]


def dashboard(plan: Plan, mp: ModelPlan, slos: tuple[SloPlan, ...]) -> dict[str, Any]:
    """The dashboard of one model (as served in the first environment), with its SLOs; the
    provenance header is its description."""
    model = mp.model
    panels: list[dict[str, Any]] = []
    pid = 0
    y = 0

    def add(
        title: str, kind: str, targets: list[dict[str, Any]], unit: str, width: int = 8
    ) -> None:
        nonlocal pid, y
        x = (pid % (24 // width)) * width if width < 24 else 0
        if x == 0 and pid:
            y += 8
        pid += 1
        panels.append(_panel(pid, title, kind, (x, y, width, 8), targets, unit))

    for title, kind, targets, unit in _traffic(mp):
        add(title, kind, targets, unit)
    for sp in slos:
        sel = f'{{{m.PROJECT}="{plan.name}",{m.SLO}="{sp.slo.name}",{NS}}}'
        budget = s.format_number(s.error_budget(sp))
        add(
            f"{sp.slo.name}: error budget remaining ({sp.slo.window})",
            "stat",
            [_target(f"{m.REMAINING_RECORD}{sel}", "{{namespace}}")],
            "percentunit",
        )
        burns = [
            _target(
                f"{s.error_ratio_record(bw.long)}{sel} / {budget}",
                f"{s.format_duration(bw.long)} {{{{namespace}}}}",
                chr(65 + i),
            )
            for i, bw in enumerate(sp.windows)
        ]
        add(f"{sp.slo.name}: burn rate (1 = on budget)", "timeseries", burns, "none")
        add(
            f"{sp.slo.name}: SLI error ratio",
            "timeseries",
            [_target(f"{s.error_ratio_record(s.rule_windows(sp)[0])}{sel}", "{{namespace}}")],
            "percentunit",
        )
    drift = model.monitoring.drift
    if drift is not None:
        add(
            f"Feature drift ({drift.metric}, threshold {s.format_number(drift.threshold)})",
            "timeseries",
            [
                _target(
                    f"{m.DRIFT_METRIC}{_selector((m.Matcher(m.MODEL, model.name),))}",
                    "{{feature}} {{namespace}}",
                )
            ],
            "none",
        )
    if model.training is not None and model.training.schedule:
        metric, matchers = m.freshness(workload_name(mp.object_name, TRAIN_SUFFIX))
        add(
            "Time since last successful training",
            "stat",
            [
                _target(
                    f"time() - {metric}{_selector(matchers)}",
                    "{{namespace}}",
                )
            ],
            "s",
        )
    header = plan.header("").replace("\n", " ").strip()
    return {
        "uid": mp.dashboard_uid,
        "title": f"{plan.name} / {model.name}",
        "description": header,
        "tags": ["mlopsc", plan.name, model.name],
        "editable": False,
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-7d", "to": "now"},
        "refresh": "1m",
        "timezone": "utc",
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "type": "datasource",
                    "query": "prometheus",
                    "label": "Data source",
                },
                {
                    "name": "namespace",
                    "type": "custom",
                    "label": "Environment",
                    "multi": True,
                    "includeAll": True,
                    "query": ",".join(ep.namespace for ep in plan.environments),
                    "current": {"text": "All", "value": "$__all"},
                },
            ]
        },
        "annotations": {"list": []},
        "links": [],
        "panels": panels,
    }
