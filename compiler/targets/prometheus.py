"""Prometheus rules of the SLOs: SLI recording rules, budget metadata and burn-rate alerts.

The metrics each SLI kind reads are listed in METRICS (and in docs/monitoring.md and each
rule file's header): KServe's model-server histograms and Istio's request counters for
`kserve`, the usual HTTP server metrics for `deployment`, a gauge pushed by the drift job,
and kube-state-metrics' last successful run of the training CronJob for freshness.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from compiler import slo as s
from compiler.plan import EnvPlan, Plan, SloPlan
from compiler.spec.models import Serving

# (kind, runtime) → what the generated rules expect; shown in headers and docs.
METRICS: dict[tuple[str, str], str] = {
    ("availability", "deployment"): (
        'http_requests_total{service="<project>-<model>", code} (counter; 5xx codes are errors)'
    ),
    ("availability", "kserve"): (
        'istio_requests_total{reporter="destination", '
        'destination_service_name=~"<project>-<model>-predictor.*", response_code} '
        "(Istio sidecar or gateway; 5xx codes are errors; KServe's model server exports "
        "no status code)"
    ),
    ("latency", "deployment"): (
        'http_request_duration_seconds_bucket{service="<project>-<model>", le} and '
        "http_request_duration_seconds_count (a bucket must sit at the threshold)"
    ),
    ("latency", "kserve"): (
        'request_predict_seconds_bucket{model_name="<project>-<model>", le} and '
        "request_predict_seconds_count (KServe model server; a bucket must sit at the threshold)"
    ),
    ("drift", ""): (
        'mlopsc_feature_drift_score{model="<model>", feature="<view>:<field>"} '
        "(gauge the drift job pushes)"
    ),
    ("freshness", ""): (
        'kube_cronjob_status_last_successful_time{cronjob="<project>-<model>-train"} '
        "(kube-state-metrics)"
    ),
    ("events", ""): "your error_query and total_query, {{window}} replaced by each window",
}


@dataclass(frozen=True)
class Scope:
    """Where rules apply: every namespace (plain files) or one environment (PrometheusRule)."""

    serving: Serving
    namespace: str | None = None
    environment: str | None = None


def metric_note(sp: SloPlan, serving: Serving) -> str:
    kind = sp.slo.sli.kind
    runtime = serving.runtime if kind in ("availability", "latency") else ""
    return METRICS[(kind, runtime)]


def _q(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _selector(matchers: dict[str, str], scope: Scope) -> str:
    """{a="b",c=~"d"}: keys ending in ~ are regex matchers."""
    items = dict(matchers)
    if scope.namespace is not None:
        items["namespace"] = scope.namespace
    parts = []
    for key, value in items.items():
        op = "=~" if key.endswith("~") else "="
        parts.append(f"{key.rstrip('~')}{op}{_q(value)}")
    return "{" + ",".join(parts) + "}"


def own_selector(sp: SloPlan, scope: Scope) -> str:
    """Selects the series this SLO's rules recorded (in this scope)."""
    items = {"slo": sp.slo.name}
    if scope.environment is not None:
        items["environment"] = scope.environment
    return "{" + ",".join(f"{k}={_q(v)}" for k, v in items.items()) + "}"


def _le(threshold: str) -> str:
    seconds = s.duration_seconds(threshold)
    if seconds.denominator == 1:
        # Go clients write le="1", Python's prometheus_client le="1.0".
        return f"{int(seconds)}|{int(seconds)}.0"
    return s.format_number(seconds)


def _rate(metric: str, matchers: dict[str, str], scope: Scope, window: str) -> str:
    return f"sum by (namespace) (rate({metric}{_selector(matchers, scope)}[{window}]))"


def ratio_queries(plan: Plan, sp: SloPlan, scope: Scope, window: int) -> tuple[str, str]:
    """(error ratio, request rate) PromQL of a ratio SLI over `window`."""
    w = s.format_duration(window)
    sli = sp.slo.sli
    obj = s.object_name(plan, sp)
    kserve = scope.serving.runtime == "kserve"
    if sli.events is not None:
        errors = sli.events.error_query.replace("{{window}}", w).replace("{{ window }}", w)
        total = sli.events.total_query.replace("{{window}}", w).replace("{{ window }}", w)
    elif sli.availability is not None:
        if kserve:
            metric = "istio_requests_total"
            base = {"reporter": "destination", "destination_service_name~": f"{obj}-predictor.*"}
            bad = {**base, "response_code~": "5.."}
        else:
            metric = "http_requests_total"
            base = {"service": obj}
            bad = {**base, "code~": "5.."}
        total = _rate(metric, base, scope, w)
        errors = _rate(metric, bad, scope, w)
    else:
        assert sli.latency is not None
        prefix = "request_predict_seconds" if kserve else "http_request_duration_seconds"
        base = {"model_name": obj} if kserve else {"service": obj}
        le = _le(sli.latency.threshold)
        good = {**base, ("le~" if "|" in le else "le"): le}
        total = _rate(f"{prefix}_count", base, scope, w)
        errors = f"({total} - {_rate(f'{prefix}_bucket', good, scope, w)})"
    # `or 0 * total` keeps a 0 ratio (not a gap) while no request failed.
    ratio = f"(({errors}) or (0 * ({total}))) / ({total})"
    return ratio, total


def bad_query(plan: Plan, sp: SloPlan, scope: Scope) -> str:
    """1 while a drift or freshness SLI is in breach, 0 otherwise (evaluated every interval)."""
    sli = sp.slo.sli
    if sli.drift is not None:
        matchers = {"model": sp.model.name, "feature": sli.drift.feature}
        gauge = f"max by (namespace) (mlopsc_feature_drift_score{_selector(matchers, scope)})"
        return f"{gauge} > bool {s.format_number(sli.drift.threshold)}"
    assert sli.freshness is not None
    cronjob = {"cronjob": f"{s.object_name(plan, sp)}-train"}
    last = (
        f"max by (namespace) (kube_cronjob_status_last_successful_time{_selector(cronjob, scope)})"
    )
    max_age = s.duration_seconds(sli.freshness.max_age)
    return f"(time() - {last}) > bool {s.format_number(max_age)}"


def _labels(sp: SloPlan, scope: Scope, **extra: str) -> dict[str, str]:
    labels = {**extra, **s.series_labels(sp)}
    if scope.environment is not None:
        labels["environment"] = scope.environment
    return labels


def _record(name: str, expr: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"record": name, "expr": expr, "labels": labels}


def recording_rules(plan: Plan, sp: SloPlan, scope: Scope) -> list[dict[str, Any]]:
    """SLI error ratios over every window, then the budget metadata."""
    labels = _labels(sp, scope)
    own = own_selector(sp, scope)
    windows = s.rule_windows(sp)
    rules: list[dict[str, Any]] = []
    if s.uses_requests(sp):
        for window in windows:
            ratio, total = ratio_queries(plan, sp, scope, window)
            rules.append(_record(s.error_ratio_record(window), ratio, labels))
            rules.append(_record(s.requests_record(window), total, labels))
    else:
        rules.append(_record(s.BAD_RECORD, bad_query(plan, sp, scope), labels))
        for window in windows:
            expr = f"avg_over_time({s.BAD_RECORD}{own}[{s.format_duration(window)}])"
            rules.append(_record(s.error_ratio_record(window), expr, labels))
    budget = s.format_number(s.error_budget(sp))
    period = s.format_duration(s.window_seconds(sp))
    shortest = s.error_ratio_record(windows[0])
    if s.uses_requests(sp):
        period_error = f"avg_over_time({shortest}{own}[{period}])"
    else:
        period_error = f"avg_over_time({s.BAD_RECORD}{own}[{period}])"
    days = s.format_number(s.window_seconds(sp) / s.DAY)
    rules += [
        _record(s.OBJECTIVE_RECORD, f"vector({s.format_number(s.objective_ratio(sp))})", labels),
        _record(s.BUDGET_RECORD, f"vector({budget})", labels),
        _record(s.PERIOD_DAYS_RECORD, f"vector({days})", labels),
        _record(s.CURRENT_BURN_RECORD, f"{shortest}{own} / {budget}", labels),
        _record(s.PERIOD_ERROR_RECORD, period_error, labels),
        _record(s.PERIOD_BURN_RECORD, f"{s.PERIOD_ERROR_RECORD}{own} / {budget}", labels),
        _record(s.REMAINING_RECORD, f"1 - {s.PERIOD_BURN_RECORD}{own}", labels),
    ]
    return rules


def alert_annotations(plan: Plan, sp: SloPlan, bw: s.BurnWindow) -> dict[str, str]:
    """Static text (no templating) so that promtool tests can state it exactly."""
    slo = sp.slo
    short, long = s.format_duration(bw.short), s.format_duration(bw.long)
    share = s.format_number(bw.share * 100)
    notes = {
        "summary": (
            f"SLO {slo.name} of model {sp.model.name} is burning its error budget "
            f"{s.format_number(bw.factor)}x too fast ({short} and {long} windows)"
        ),
        "description": (
            f"At this rate {share}% of the {slo.window} error budget is spent within {long}. "
            + (slo.description or "")
        ).strip(),
        "objective": f"{s.format_number(slo.objective)}% over {slo.window}",
        "budget": f"{s.format_number(s.error_budget(sp) * 100)}% of {sp.slo.sli.kind} events",
        "dashboard": f"/d/{s.dashboard_uid(plan, sp.model.name)}",
    }
    if slo.runbook_url:
        notes["runbook_url"] = str(slo.runbook_url)
    return notes


def alert_rules(plan: Plan, sp: SloPlan, scope: Scope) -> list[dict[str, Any]]:
    """One alert per enabled window pair; the low-traffic guard applies to ratio SLIs."""
    own = own_selector(sp, scope)
    guard = sp.slo.alerting.min_request_rate
    rules: list[dict[str, Any]] = []
    for bw in s.enabled_windows(sp):
        op, threshold = s.alert_threshold(sp, bw)
        both = (
            f"{s.error_ratio_record(bw.short)}{own} {op} {threshold}\n"
            f"and\n"
            f"{s.error_ratio_record(bw.long)}{own} {op} {threshold}"
        )
        expr = both
        if guard is not None and s.uses_requests(sp):
            expr = (
                f"(\n{both}\n)\nand\n{s.requests_record(bw.long)}{own} >= {s.format_number(guard)}"
            )
        labels = s.alert_labels(sp, bw.severity)
        if scope.environment is not None:
            labels["environment"] = scope.environment
        rules.append(
            {
                "alert": s.alert_name(sp, bw),
                "expr": expr + "\n",
                "for": s.format_duration(bw.hold),
                "labels": labels,
                "annotations": alert_annotations(plan, sp, bw),
            }
        )
    return rules


def rule_group(plan: Plan, sp: SloPlan, scope: Scope) -> dict[str, Any]:
    """One group per SLO: recording rules first, so alerts read this evaluation's values."""
    name = f"mlopsc-slo-{sp.slo.name}"
    return {
        "name": name,
        "rules": recording_rules(plan, sp, scope) + alert_rules(plan, sp, scope),
    }


def rule_file_header(plan: Plan, sp: SloPlan) -> str:
    """The file header: provenance, the metrics read and the window arithmetic."""
    lines = [
        f"SLO {sp.slo.name}: {sp.slo.sli.kind} of model {sp.model.name}, "
        f"objective {s.format_number(sp.slo.objective)}% over {sp.slo.window}.",
        "Reads: "
        + metric_note(sp, sp.model.serving)
        .replace("<project>-<model>", s.object_name(plan, sp))
        .replace("<model>", sp.model.name)
        + ".",
        "Series are summed by namespace; alerts carry severity, slo, model, owner.",
        "Burn-rate windows (SRE workbook, scaled by window/30d; factor = budget share x "
        "window / long window):",
    ]
    for bw in s.burn_windows(s.window_seconds(sp)):
        lines.append(
            f"  {bw.severity:<6} {s.format_duration(bw.short)} and {s.format_duration(bw.long)}"
            f" > {s.format_number(bw.factor)}x ({s.format_number(bw.share * 100)}% of the budget)"
            f", for {s.format_duration(bw.hold)}"
        )
    if sp.slo.alerting.min_request_rate is not None:
        if s.uses_requests(sp):
            lines.append(
                f"Quiet below {s.format_number(sp.slo.alerting.min_request_rate)} requests/s "
                "over the long window (min_request_rate)."
            )
        else:
            lines.append("min_request_rate does not apply to this SLI kind (no requests).")
    return plan.header("#") + "".join(f"# {line}\n" for line in lines)


def rule_files(plan: Plan) -> list[tuple[str, str, dict[str, Any]]]:
    """(file name, header, rule file) per SLO for plain Prometheus, every namespace."""
    files = []
    for sp in plan.slos:
        scope = Scope(serving=sp.model.serving)
        files.append(
            (
                f"{sp.slo.name}.yaml",
                rule_file_header(plan, sp),
                {"groups": [rule_group(plan, sp, scope)]},
            )
        )
    return files


def env_groups(plan: Plan, ep: EnvPlan) -> list[dict[str, Any]]:
    """The rule groups of one environment: its namespace only, labelled with its name."""
    servings = {mp.name: mp for mp in ep.models}
    groups = []
    for sp in plan.slos:
        mp = servings.get(sp.model.name)
        if mp is None:
            continue
        if sp.slo.sli.kind == "freshness" and not mp.trains_here:
            continue  # the training CronJob runs in the first environment only
        scope = Scope(serving=mp.serving, namespace=ep.namespace, environment=ep.name)
        groups.append(rule_group(plan, sp, scope))
    return groups
