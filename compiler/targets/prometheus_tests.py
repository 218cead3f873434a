"""promtool unit tests of the SLO rules: a fast burn pages, a slow burn only tickets, healthy
traffic and idle traffic under the low-traffic guard stay quiet.

Each scenario is a piecewise-constant error ratio fed as synthetic series. What should fire
is computed here by simulating the rules step by step (Prometheus 2.x range semantics); an
alert whose condition sits within 2% of its threshold is left out rather than guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from compiler import slo as s
from compiler.plan import Plan, SloPlan
from compiler.targets.prometheus import alert_annotations

_SELECTOR = re.compile(
    r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?\s*\[\s*\{\{\s*window\s*\}\}\s*\]"
)
_MATCHER = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!=|!~|=)\s*"([^"]*)"\s*,?')
MARGIN = 0.02


@dataclass(frozen=True)
class Scenario:
    name: str
    segments: tuple[tuple[int, float], ...]  # (steps, error ratio or 0/1 breach)
    rate: float  # requests per second


def step_seconds(sp: SloPlan) -> int:
    """Input and evaluation interval: 1m, longer for windows over 30d to bound the runtime."""
    minutes = max(1, round(s.window_seconds(sp) / s.BASE_WINDOW))
    return minutes * s.MINUTE


def _series_per_step(segments: tuple[tuple[int, float], ...]) -> list[float]:
    out: list[float] = []
    for steps, value in segments:
        out.extend([value] * steps)
    return out


def _prefix_sums(values: list[float]) -> list[float]:
    sums = [0.0]
    for value in values:
        sums.append(sums[-1] + value)
    return sums


def _ratio(sums: list[float], t: int, window: int, step: int, *, ratio_sli: bool) -> float:
    """Mean error ratio over `window` at step t, from prefix sums of the per-step states
    (errors[i] is the state in (i-1, i]); ratio SLIs see rate() windows, which start after
    the first sample."""
    span = window // step
    start = max(1, t - span + 1) if ratio_sli else max(0, t - span)
    end = t + 1
    return (sums[end] - sums[start]) / (end - start) if end > start else 0.0


def expected(sp: SloPlan, sc: Scenario, step: int) -> dict[str, bool | None]:
    """Alert name → fires at the end of the scenario (None: too close to call)."""
    errors = [sc.segments[0][1], *_series_per_step(sc.segments)]
    sums = _prefix_sums(errors)
    ratio_sli = s.uses_requests(sp)
    end = len(errors) - 1
    guard = sp.slo.alerting.min_request_rate or 0.0
    result: dict[str, bool | None] = {}
    for bw in s.enabled_windows(sp):
        threshold = s.threshold_value(sp, bw)
        guarded = guard is not None and ratio_sli
        # Firing at the end needs the condition at every evaluation of the last `for:`.
        states: set[bool | None] = set()
        for t in range(end - bw.hold // step, end + 1):
            state: bool | None = True
            for window in (bw.short, bw.long):
                value = _ratio(sums, t, window, step, ratio_sli=ratio_sli)
                if abs(value - threshold) <= MARGIN * threshold:
                    state = None if state is not False else False
                elif value < threshold:
                    state = False
            if guarded:
                # rate() of a counter starting at 0 is not extrapolated before its first
                # sample: over a longer window it reads as the share of the window covered.
                seen = sc.rate * min(t * step, bw.long) / bw.long
                if abs(seen - guard) <= MARGIN * guard:
                    state = None if state is not False else False
                elif seen < guard:
                    state = False
            states.add(state)
        verdict: bool | None = False if False in states else (None if None in states else True)
        result[s.alert_name(sp, bw)] = verdict
    return result


def scenarios(sp: SloPlan, step: int) -> list[Scenario]:
    pairs = s.burn_windows(s.window_seconds(sp))
    page_fast, page_slow, ticket_fast, _ = pairs
    # Long enough that the 6h-class window sees mostly healthy traffic before a burn; longer
    # windows reaching before the first sample average what exists (the simulation agrees).
    lead = page_slow.long // step + 1
    budget = float(s.error_budget(sp))
    guard = sp.slo.alerting.min_request_rate
    rate = max(1.0, 100 * guard) if guard else 1.0
    fast_len = page_fast.long // step + page_fast.hold // step + 1
    slow_len = (ticket_fast.short + ticket_fast.hold) // step + 2
    if s.uses_requests(sp):
        healthy = budget / 2
        fast = min(1.0, 1.5 * s.threshold_value(sp, page_fast))
        slow = min(
            1.5 * s.threshold_value(sp, ticket_fast), s.threshold_value(sp, page_slow) * 0.75
        )
        result = [
            Scenario("fast burn pages", ((lead, healthy), (fast_len, fast)), rate),
            # Burning since the series began: every window sees the same ratio, so the ticket
            # fires after its `for:` without simulating a day of input.
            Scenario("slow burn opens a ticket", ((slow_len, slow),), rate),
            Scenario("healthy traffic is quiet", ((lead + fast_len, healthy),), rate),
        ]
        if guard:
            result.append(
                Scenario(
                    "idle traffic under the guard is quiet", ((lead + fast_len, 1.0),), guard / 2
                )
            )
        return result
    burn = max(ticket_fast.long * 5 * budget, ticket_fast.short) // step + 1
    gap = (page_slow.short + page_slow.hold) // step + 2
    return [
        Scenario("fast burn pages", ((lead, 0.0), (fast_len, 1.0)), rate),
        Scenario("slow burn opens a ticket", ((lead, 0.0), (int(burn), 1.0), (gap, 0.0)), rate),
        Scenario("healthy is quiet", ((lead + fast_len, 0.0),), rate),
    ]


def _values(segments: list[tuple[int, float, float]]) -> str:
    """Expanding notation from (samples, first value, increment per sample) runs."""
    parts = []
    for samples, first, incr in segments:
        f, i = s.format_number(first), s.format_number(incr)
        parts.append(f"{f}+{i}x{samples - 1}" if samples > 1 else f)
    return " ".join(parts)


def _counter(segments: tuple[tuple[int, float], ...], per_step: list[float]) -> str:
    runs: list[tuple[int, float, float]] = []
    total = 0.0
    for index, (steps, _) in enumerate(segments):
        incr = per_step[index]
        if index == 0:
            runs.append((steps + 1, 0.0, incr))
            total = incr * steps
        else:
            runs.append((steps, total + incr, incr))
            total += incr * steps
    return _values(runs)


def _labels(labels: dict[str, str]) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def _events_shape(sp: SloPlan) -> tuple[str, dict[str, str], str, dict[str, str]] | None:
    ev = sp.slo.sli.events
    assert ev is not None
    found = []
    for query in (ev.error_query, ev.total_query):
        if re.search(r"\b(by|without)\b", query):
            return None
        selectors = _SELECTOR.findall(query)
        if len(selectors) != 1:
            return None
        metric, body = selectors[0]
        matchers = _MATCHER.findall(body.strip("{}")) if body else []
        if any(op != "=" for _, op, _ in matchers):
            return None
        found.append((metric, {k: v for k, _, v in matchers}))
    (em, el), (tm, tl) = found
    return em, el, tm, tl


def input_series(
    plan: Plan, sp: SloPlan, sc: Scenario, step: int, ns: str
) -> list[dict[str, str]] | None:
    """The synthetic series of a scenario, or None when the SLI's inputs cannot be derived."""
    sli = sp.slo.sli
    obj = s.object_name(plan, sp)
    segs = sc.segments
    per = step * sc.rate
    bad = [per * e for _, e in segs]
    good = [per * (1 - e) for _, e in segs]
    kserve = sp.model.serving.runtime == "kserve"
    out: list[tuple[str, str]] = []
    if sli.availability is not None:
        if kserve:
            base = {"reporter": "destination", "destination_service_name": f"{obj}-predictor"}
            metric, code = "istio_requests_total", "response_code"
        else:
            base, metric, code = {"service": obj}, "http_requests_total", "code"
        base["namespace"] = ns
        out.append((metric + _labels({**base, code: "500"}), _counter(segs, bad)))
        out.append((metric + _labels({**base, code: "200"}), _counter(segs, good)))
    elif sli.latency is not None:
        prefix = "request_predict_seconds" if kserve else "http_request_duration_seconds"
        base = {"model_name": obj} if kserve else {"service": obj}
        base["namespace"] = ns
        le = s.duration_seconds(sli.latency.threshold)
        le_text = str(int(le)) if le.denominator == 1 else s.format_number(le)
        total = [per for _ in segs]
        out.append((f"{prefix}_bucket" + _labels({**base, "le": le_text}), _counter(segs, good)))
        out.append((f"{prefix}_bucket" + _labels({**base, "le": "+Inf"}), _counter(segs, total)))
        out.append((f"{prefix}_count" + _labels(base), _counter(segs, total)))
    elif sli.events is not None:
        shape = _events_shape(sp)
        if shape is None:
            return None
        em, el, tm, tl = shape
        if em == tm and set(tl.items()) <= set(el.items()) and el != tl:
            other = {k: (v if k in tl else v + "-ok") for k, v in el.items()}
            out.append((em + _labels(el), _counter(segs, bad)))
            out.append((em + _labels(other), _counter(segs, good)))
        elif em != tm:
            out.append((em + _labels(el), _counter(segs, bad)))
            out.append((tm + _labels(tl), _counter(segs, [per for _ in segs])))
        else:
            return None
    elif sli.drift is not None:
        t = sli.drift.threshold
        labels = {"model": sp.model.name, "feature": sli.drift.feature, "namespace": ns}
        runs = [
            (n + (1 if i == 0 else 0), t * 2 if e else t / 2, 0.0) for i, (n, e) in enumerate(segs)
        ]
        out.append(("mlopsc_feature_drift_score" + _labels(labels), _values(runs)))
    else:
        assert sli.freshness is not None
        max_age = float(s.duration_seconds(sli.freshness.max_age))
        labels = {"cronjob": f"{obj}-train", "namespace": ns}
        runs = []
        start = 0
        for i, (n, e) in enumerate(segs):
            samples = n + (1 if i == 0 else 0)
            offset = -(max_age + s.DAY) if e else 0.0
            runs.append((samples, start * step + offset, float(step)))
            start += samples
        out.append(("kube_cronjob_status_last_successful_time" + _labels(labels), _values(runs)))
    return [{"series": name, "values": values} for name, values in out]


def test_file(plan: Plan, sp: SloPlan, rule_file: str) -> tuple[dict[str, Any], int]:
    """The promtool test file of one SLO and the number of alert assertions in it."""
    step = step_seconds(sp)
    ns = plan.environments[0].namespace if plan.environments else "default"
    tests = []
    checks = 0
    for sc in scenarios(sp, step):
        series = input_series(plan, sp, sc, step, ns)
        if series is None:
            continue
        end = sum(n for n, _ in sc.segments) * step
        asserts = []
        for bw in s.enabled_windows(sp):
            name = s.alert_name(sp, bw)
            fires = expected(sp, sc, step)[name]
            if fires is None:
                continue
            item: dict[str, Any] = {"eval_time": s.format_duration(end), "alertname": name}
            if fires:
                labels = s.alert_labels(sp, bw.severity)
                if sp.slo.sli.events is None:
                    labels["namespace"] = ns
                item["exp_alerts"] = [
                    {"exp_labels": labels, "exp_annotations": alert_annotations(plan, sp, bw)}
                ]
            else:
                item["exp_alerts"] = []
            asserts.append(item)
        checks += len(asserts)
        if asserts:
            tests.append(
                {
                    "name": f"{sp.slo.name}: {sc.name}",
                    "interval": s.format_duration(step),
                    "input_series": series,
                    "alert_rule_test": asserts,
                }
            )
    doc = {
        "rule_files": [rule_file],
        "evaluation_interval": s.format_duration(step),
        "tests": tests,
    }
    return doc, checks
