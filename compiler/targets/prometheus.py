"""Prometheus rules of the SLOs: SLI recording rules, budget metadata, burn-rate and no-data
alerts.

Every series the rules record and every alert carries the project's name (`project`) and, in
an environment's PrometheusRule, the environment's (`environment`); the rules read and write
only their own project's series, in its own namespaces, as Sloth does with its ids, so that
two projects in one Prometheus never collide nor alert on each other. The metrics each SLI
kind reads come from `compiler.conventions_metrics` (listed in docs/monitoring.md and in
each rule file's header).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from compiler import conventions_metrics as m
from compiler import slo as s
from compiler.conventions import TRAIN_SUFFIX, workload_name
from compiler.plan import ModelPlan, Plan, SloPlan
from compiler.render.gotemplate import literal


@dataclass(frozen=True)
class Scope:
    """Where rules look: the model's deployments they judge, and the environment whose
    PrometheusRule they are (None: the plain rule files, every environment at once)."""

    deployments: tuple[ModelPlan, ...]
    environment: str | None = None


def plain_scope(sp: SloPlan) -> Scope:
    return Scope(sp.deployments)


def env_scope(sp: SloPlan, environment: str) -> Scope | None:
    here = tuple(mp for mp in sp.deployments if mp.env.name == environment)
    return Scope(here, environment) if here else None


def _q(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _namespaces(deployments: Iterable[ModelPlan]) -> m.Matcher:
    names = sorted({mp.env.namespace for mp in deployments})
    if len(names) == 1:
        return m.Matcher(m.NAMESPACE, names[0])
    # namespaces are DNS labels: nothing in them needs regex escaping
    return m.Matcher(m.NAMESPACE, "|".join(names), regex=True)


def _selector(matchers: Iterable[m.Matcher]) -> str:
    return (
        "{" + ",".join(f"{x.label}{'=~' if x.regex else '='}{_q(x.value)}" for x in matchers) + "}"
    )


def own_selector(plan: Plan, sp: SloPlan, scope: Scope, *extra: m.Matcher) -> str:
    """Selects the series this SLO's rules recorded (in this scope)."""
    items = [m.Matcher(m.PROJECT, plan.name), m.Matcher(m.SLO, sp.slo.name)]
    if scope.environment is not None:
        items.append(m.Matcher(m.ENVIRONMENT, scope.environment))
    return _selector([*items, *extra])


def _by_runtime(scope: Scope) -> list[tuple[str, m.Matcher]]:
    """(serving runtime, namespace matcher) per runtime the model runs on in this scope."""
    runtimes = sorted({mp.serving.runtime for mp in scope.deployments})
    return [
        (rt, _namespaces(mp for mp in scope.deployments if mp.serving.runtime == rt))
        for rt in runtimes
    ]


def _rate(metric: str, matchers: Iterable[m.Matcher], window: str) -> str:
    return f"sum by (namespace) (rate({metric}{_selector(matchers)}[{window}]))"


def _either(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else " or ".join(f"({p})" for p in parts)


def _le(seconds: float) -> m.Matcher:
    if seconds.is_integer():
        # Go clients write le="1", Python's prometheus_client le="1.0".
        return m.Matcher("le", f"{int(seconds)}|{int(seconds)}.0", regex=True)
    return m.Matcher("le", s.format_number(seconds))


_WINDOW = "\x00window\x00"  # stands for the window in a query shape (no selector holds NUL)


def ratio_shape(plan: Plan, sp: SloPlan, scope: Scope) -> Callable[[int], tuple[str, str]]:
    """window -> (error ratio, request rate) PromQL of a ratio SLI. The ratio reads the request
    rate this group records just before it (same evaluation), so that each rule states the raw
    selectors once; they are built once per scope, each window only fills in its duration."""
    sli = sp.slo.sli
    if sli.events is not None:
        events = sli.events

        def user_queries(window: int) -> tuple[str, str]:
            w = s.format_duration(window)
            errors = events.error_query.replace("{{window}}", w).replace("{{ window }}", w)
            total = events.total_query.replace("{{window}}", w).replace("{{ window }}", w)
            # Your queries' labels are unknown here: match them as they come.
            return f"(({errors}) or (0 * ({total}))) / (({total}) > 0)", total

        return user_queries
    own = own_selector(plan, sp, scope)
    error_parts, total_parts = [], []
    for runtime, ns in _by_runtime(scope):
        if sli.availability is not None:
            req = m.requests(runtime, sp.object_name)
            total_parts.append(_rate(req.metric, (*req.matchers, ns), _WINDOW))
            error_parts.append(_rate(req.metric, (*req.errors(), ns), _WINDOW))
        else:
            assert sp.latency_threshold is not None
            hist = m.histogram(runtime, sp.object_name)
            total_parts.append(_rate(hist.count, (*hist.matchers, ns), _WINDOW))
            good = _rate(hist.bucket, (*hist.matchers, ns, _le(sp.latency_threshold)), _WINDOW)
            error_parts.append(f"{total_parts[-1]} - {good}")
    errors, total = _either(error_parts), _either(total_parts)

    def queries(window: int) -> tuple[str, str]:
        w = s.format_duration(window)
        recorded = f"{s.requests_record(window)}{own}"
        # `or 0 * total` keeps a 0 ratio (not a gap) while no request failed; `total > 0`
        # records nothing for an idle window, whose 0/0 would make every average over it NaN.
        # Both sides are summed by namespace: match on it (the recorded rate carries the rule
        # labels too).
        ratio = (
            f"(({errors.replace(_WINDOW, w)}) or on (namespace) (0 * {recorded}))"
            f" / on (namespace) ({recorded} > 0)"
        )
        return ratio, total.replace(_WINDOW, w)

    return queries


def bad_query(sp: SloPlan, scope: Scope) -> str:
    """1 while a drift or freshness SLI is in breach, 0 otherwise (evaluated every interval)."""
    sli = sp.slo.sli
    ns = _namespaces(scope.deployments)
    if sli.drift is not None:
        metric, matchers = m.drift(sp.model.name, sli.drift.feature)
        gauge = f"max by (namespace) ({metric}{_selector((*matchers, ns))})"
        return f"{gauge} > bool {s.format_number(sli.drift.threshold)}"
    assert sp.max_age is not None
    metric, matchers = m.freshness(workload_name(sp.object_name, TRAIN_SUFFIX))
    last = f"max by (namespace) ({metric}{_selector((*matchers, ns))})"
    return f"(time() - {last}) > bool {s.format_number(sp.max_age)}"


def static_labels(plan: Plan, sp: SloPlan, scope: Scope) -> dict[str, str]:
    """The labels the rules add to every series and alert of the SLO (values are Go
    template text: Prometheus expands alert labels)."""
    labels = {
        m.PROJECT: plan.name,
        m.SLO: sp.slo.name,
        m.MODEL: sp.model.name,
        m.OWNER: sp.owner.name,
    }
    if scope.environment is not None:
        labels[m.ENVIRONMENT] = scope.environment
    return {key: literal(value) for key, value in labels.items()}


def _record(name: str, expr: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"record": name, "expr": expr, "labels": labels}


def recording_rules(plan: Plan, sp: SloPlan, scope: Scope) -> list[dict[str, Any]]:
    """SLI error ratios over every window, then the budget metadata. Records carry the
    SLO's identity (project, slo, environment); model and owner are the alerts' labels."""
    labels = {
        k: v for k, v in static_labels(plan, sp, scope).items() if k not in (m.MODEL, m.OWNER)
    }
    own = own_selector(plan, sp, scope)
    windows = s.rule_windows(sp)
    rules: list[dict[str, Any]] = []
    if s.uses_requests(sp):
        shape = ratio_shape(plan, sp, scope)
        for window in windows:
            ratio, total = shape(window)
            rules.append(_record(s.requests_record(window), total, labels))
            rules.append(_record(s.error_ratio_record(window), ratio, labels))
    else:
        rules.append(_record(m.BAD_RECORD, bad_query(sp, scope), labels))
        for window in windows:
            expr = f"avg_over_time({m.BAD_RECORD}{own}[{s.format_duration(window)}])"
            rules.append(_record(s.error_ratio_record(window), expr, labels))
    budget = s.format_number(s.error_budget(sp))
    period = s.format_duration(sp.window)
    shortest = s.error_ratio_record(windows[0])
    source = shortest if s.uses_requests(sp) else m.BAD_RECORD
    days = s.format_number(sp.window / s.DAY)
    rules += [
        _record(m.OBJECTIVE_RECORD, f"vector({s.format_number(s.objective_ratio(sp))})", labels),
        _record(m.BUDGET_RECORD, f"vector({budget})", labels),
        _record(m.PERIOD_DAYS_RECORD, f"vector({days})", labels),
        _record(m.CURRENT_BURN_RECORD, f"{shortest}{own} / {budget}", labels),
        _record(m.PERIOD_ERROR_RECORD, f"avg_over_time({source}{own}[{period}])", labels),
        _record(m.PERIOD_BURN_RECORD, f"{m.PERIOD_ERROR_RECORD}{own} / {budget}", labels),
        _record(m.REMAINING_RECORD, f"1 - {m.PERIOD_BURN_RECORD}{own}", labels),
    ]
    return rules


def alert_annotations(plan: Plan, sp: SloPlan, bw: s.BurnWindow) -> dict[str, str]:
    """Static text, so that promtool tests can state it exactly; spec text is escaped (Go
    templates run nothing from the spec)."""
    slo = sp.slo
    return dict(
        _alert_annotations(
            slo.name,
            sp.model.name,
            bw,
            slo.window,
            slo.description or "",
            slo.objective,
            sp.slo.sli.kind,
            sp.dashboard_uid,
            str(slo.runbook_url) if slo.runbook_url else "",
        )
    )


# The text depends on these values only; every scope's rules and the promtool tests of an
# SLO ask for the same text, so it is made once.
@functools.lru_cache(maxsize=8192)
def _alert_annotations(
    slo: str,
    model: str,
    bw: s.BurnWindow,
    window: str,
    description: str,
    objective: float,
    kind: str,
    dashboard_uid: str,
    runbook_url: str,
) -> tuple[tuple[str, str], ...]:
    short, long = s.format_duration(bw.short), s.format_duration(bw.long)
    share = s.format_number(bw.share * 100)
    notes = {
        "summary": (
            f"SLO {slo} of model {model} is burning its error budget "
            f"{s.format_number(bw.factor)}x too fast ({short} and {long} windows)"
        ),
        "description": (
            f"At this rate {share}% of the {window} error budget is spent within {long}. "
            + description
        ).strip(),
        "objective": f"{s.format_number(objective)}% over {window}",
        "budget": f"{s.format_number(s.budget_of(objective) * 100)}% of {kind} events",
        "dashboard": f"/d/{dashboard_uid}",
    }
    if runbook_url:
        notes["runbook_url"] = runbook_url
    return tuple((key, literal(value)) for key, value in notes.items())


def no_data_annotations(sp: SloPlan) -> dict[str, str]:
    """What the no-data alert says (static text, escaped like every annotation)."""
    slo = sp.slo
    notes = {
        "summary": f"SLO {slo.name} of model {sp.model.name} has no data",
        "description": (
            f"The {slo.sli.kind} SLI of {slo.name} reads no series: its burn-rate alerts "
            "cannot fire. Check the scrape target, the metric names (docs/monitoring.md) and "
            "the namespace."
        ),
        "dashboard": f"/d/{sp.dashboard_uid}",
    }
    if slo.runbook_url:
        notes["runbook_url"] = str(slo.runbook_url)
    return {key: literal(value) for key, value in notes.items()}


def burn_alert_expr(plan: Plan, sp: SloPlan, scope: Scope, bw: s.BurnWindow) -> str:
    """Both windows at or above the threshold, and for ratio SLIs with `min_request_rate`,
    both windows at or above that traffic."""
    own = own_selector(plan, sp, scope)
    _, threshold = s.alert_threshold(sp, bw)
    expr = (
        f"{s.error_ratio_record(bw.short)}{own} >= {threshold}\n"
        f"and\n"
        f"{s.error_ratio_record(bw.long)}{own} >= {threshold}"
    )
    guard = sp.slo.alerting.min_request_rate
    if guard is not None and s.uses_requests(sp):
        floor = s.format_number(guard)
        expr = (
            f"(\n{expr}\n)\n"
            f"and\n{s.requests_record(bw.short)}{own} >= {floor}\n"
            f"and\n{s.requests_record(bw.long)}{own} >= {floor}"
        )
    return expr + "\n"


def no_data_namespaces(sp: SloPlan, scope: Scope) -> list[str | None]:
    """The namespaces each with its own no-data alert; [None]: one for all (`events` SLIs,
    whose queries are the user's and need not keep a namespace label)."""
    if sp.slo.sli.events is not None:
        return [None]
    return [*sorted({mp.env.namespace for mp in scope.deployments})]


def no_data_rules(plan: Plan, sp: SloPlan, scope: Scope) -> list[dict[str, Any]]:
    """One absent() alert per namespace the SLO judges."""
    if s.uses_requests(sp):
        record, hold = s.requests_record(s.rule_windows(sp)[0]), s.NO_DATA_FOR
    else:
        record, hold = m.BAD_RECORD, s.NO_DATA_FOR_GAUGE
    namespaces = no_data_namespaces(sp, scope)
    labels = {m.SEVERITY: "ticket", **static_labels(plan, sp, scope)}
    rules = []
    for ns in namespaces:
        extra = () if ns is None else (m.Matcher(m.NAMESPACE, ns),)
        rules.append(
            {
                "alert": s.no_data_name(sp),
                # absent() returns the selector's equality matchers as labels: project, slo,
                # namespace (and environment), so each namespace is its own alert.
                "expr": f"absent({record}{own_selector(plan, sp, scope, *extra)})",
                "for": s.format_duration(hold),
                # namespace also as a rule label: promtool's lint sees one rule per label set
                "labels": labels if ns is None else {**labels, m.NAMESPACE: ns},
                "annotations": no_data_annotations(sp),
            }
        )
    return rules


def alert_rules(plan: Plan, sp: SloPlan, scope: Scope) -> list[dict[str, Any]]:
    """One alert name per severity, a rule per window pair (label burn_window), then no-data."""
    rules: list[dict[str, Any]] = []
    for bw in s.enabled_windows(sp):
        labels = {m.SEVERITY: bw.severity, m.BURN_WINDOW: bw.label}
        labels.update(static_labels(plan, sp, scope))
        rules.append(
            {
                "alert": s.alert_name(sp, bw.severity),
                "expr": burn_alert_expr(plan, sp, scope, bw),
                "for": s.format_duration(bw.hold),
                "labels": labels,
                "annotations": alert_annotations(plan, sp, bw),
            }
        )
    return rules + no_data_rules(plan, sp, scope)


def rule_group(plan: Plan, sp: SloPlan, scope: Scope) -> dict[str, Any]:
    """One group per SLO: recording rules first, so alerts read this evaluation's values."""
    return {
        "name": f"mlopsc-{plan.name}-{sp.slo.name}",
        "rules": recording_rules(plan, sp, scope) + alert_rules(plan, sp, scope),
    }


def metric_note(sp: SloPlan, runtime: str) -> str:
    """The series an SLI reads, for headers."""
    sli = sp.slo.sli
    if sli.availability is not None:
        req = m.requests(runtime, sp.object_name)
        return (
            f"{req.metric}{_selector(req.matchers)} by {req.code_label} "
            f"(5xx are errors; {req.note})"
        )
    if sli.latency is not None:
        hist = m.histogram(runtime, sp.object_name)
        return (
            f"{hist.bucket}{_selector(hist.matchers)} and {hist.count} ({hist.note}; "
            "a bucket must sit at the threshold)"
        )
    if sli.drift is not None:
        metric, matchers = m.drift(sp.model.name, sli.drift.feature)
        return f"{metric}{_selector(matchers)} (gauge the drift job pushes)"
    if sli.freshness is not None:
        metric, matchers = m.freshness(workload_name(sp.object_name, TRAIN_SUFFIX))
        return f"{metric}{_selector(matchers)} (kube-state-metrics)"
    return "your error_query and total_query, {{window}} replaced by each window"


def rule_file_header(plan: Plan, sp: SloPlan) -> str:
    """The file header: provenance, the metrics read and the window arithmetic."""
    runtimes: list[str] = sorted({mp.serving.runtime for mp in sp.deployments})
    notes = sorted({metric_note(sp, rt) for rt in runtimes or [""]})
    lines = [
        f"SLO {sp.slo.name}: {sp.slo.sli.kind} of model {sp.model.name}, "
        f"objective {s.format_number(sp.slo.objective)}% over {sp.slo.window}.",
        *(f"Reads: {note}." for note in notes),
        "Series are summed by namespace; records carry project and slo, alerts also model and owner.",
        "Burn-rate windows (SRE workbook, scaled by window/30d; factor = budget share x "
        "window / long window):",
    ]
    for bw in sp.windows:
        lines.append(
            f"  {bw.severity:<6} {s.format_duration(bw.short)} and {s.format_duration(bw.long)}"
            f" >= {s.format_number(bw.factor)}x ({s.format_number(bw.share * 100)}% of the "
            f"budget), for {s.format_duration(bw.hold)}"
        )
    if sp.slo.alerting.min_request_rate is not None:
        if s.uses_requests(sp):
            lines.append(
                f"Quiet below {s.format_number(sp.slo.alerting.min_request_rate)} requests/s "
                "over either window of a pair (min_request_rate)."
            )
        else:
            lines.append("min_request_rate does not apply to this SLI kind (no requests).")
    return plan.header("#") + "".join(f"# {line}\n" for line in lines)


def rule_files(plan: Plan) -> list[tuple[str, str, dict[str, Any]]]:
    """(file name, header, rule file) per SLO for plain Prometheus, every environment."""
    return [
        (
            f"{sp.slo.name}.yaml",
            rule_file_header(plan, sp),
            {"groups": [rule_group(plan, sp, plain_scope(sp))]},
        )
        for sp in plan.slos
        if sp.deployments
    ]


def env_groups(plan: Plan, environment: str) -> dict[str, list[dict[str, Any]]]:
    """Model name → the rule groups of its SLOs in one environment (its namespace only,
    labelled with the environment's name)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for sp in plan.slos:
        scope = env_scope(sp, environment)
        if scope is not None:
            groups.setdefault(sp.model.name, []).append(rule_group(plan, sp, scope))
    return groups
