"""promtool unit tests of the SLO rules: a fast burn pages, a slow burn only tickets, healthy
traffic and idle traffic under the low-traffic guard stay quiet, and an SLI without series
raises its no-data alert.

Each scenario is a piecewise-constant error ratio fed as synthetic series. What should fire
is computed here by simulating the rules step by step (Prometheus 2.x range semantics) in
floats; an alert whose condition sits within MARGIN (2%, relative) of its threshold is left
out rather than guessed, so float rounding can never decide an expectation.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from compiler import conventions_metrics as m
from compiler import slo as s
from compiler.conventions import TRAIN_SUFFIX, workload_name
from compiler.plan import ModelPlan, Plan, SloPlan
from compiler.targets.prometheus import (
    alert_annotations,
    no_data_annotations,
    no_data_namespaces,
    plain_scope,
    static_labels,
)

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
    minutes = max(1, round(sp.window / s.BASE_WINDOW))
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


def _lowest_ratio(
    sums: tuple[float, ...], times: range, window: int, step: int, *, ratio_sli: bool
) -> float:
    """Lowest mean error ratio over `window` at the steps t of `times`, from prefix sums of
    the per-step states (errors[i] is the state in (i-1, i]); ratio SLIs see rate() windows,
    which start after the first sample."""
    shift = window // step - (1 if ratio_sli else 0)
    low = 1 if ratio_sli else 0
    lowest = float("inf")
    for t in times:
        start = max(low, t - shift)
        ratio = (sums[t + 1] - sums[start]) / (t + 1 - start) if t + 1 > start else 0.0
        if ratio < lowest:
            lowest = ratio
    return lowest


def _verdict(lowest: float, limit: float) -> bool | None:
    """Whether every value (the lowest of them given) is >= limit; None within MARGIN."""
    if limit <= 0:
        return True
    if lowest < limit * (1 - MARGIN):
        return False
    return True if lowest > limit * (1 + MARGIN) else None


# (label, short, long, hold, threshold) of each enabled window pair.
_Pairs = tuple[tuple[str, int, int, int, float], ...]


def expected(sp: SloPlan, sc: Scenario, step: int) -> dict[str, bool | None]:
    """Window pair label (5m1h) → fires at the end of the scenario (None: too close to call).

    Firing at the end needs the condition at every evaluation of the last `for:`, so each
    quantity's lowest value over those evaluations decides."""
    pairs = tuple(
        (bw.label, bw.short, bw.long, bw.hold, s.threshold_value(sp, bw))
        for bw in s.enabled_windows(sp)
    )
    guard = sp.slo.alerting.min_request_rate
    found = _simulate(sc.segments, sc.rate, step, s.uses_requests(sp), guard, pairs)
    return dict(found)


@functools.lru_cache(maxsize=4096)
def _simulate(
    segments: tuple[tuple[int, float], ...],
    rate: float,
    step: int,
    ratio_sli: bool,
    guard: float | None,
    pairs: _Pairs,
) -> tuple[tuple[str, bool | None], ...]:
    """What `expected` returns, from the facts it depends on alone: SLOs that share an
    objective, windows and scenario (most of a large platform) share one simulation."""
    errors = [segments[0][1], *_series_per_step(segments)]
    sums = tuple(_prefix_sums(errors))
    end = len(errors) - 1
    result: list[tuple[str, bool | None]] = []
    for label, short, long, hold, threshold in pairs:
        times = range(max(0, end - hold // step), end + 1)
        verdicts = [
            _verdict(_lowest_ratio(sums, times, window, step, ratio_sli=ratio_sli), threshold)
            for window in (short, long)
        ]
        if guard is not None and ratio_sli:
            # rate() of a counter starting at 0 is not extrapolated before its first sample:
            # over a longer window it reads as the share of the window covered (lowest first).
            verdicts += [
                _verdict(rate * min(times[0] * step, window) / window, guard)
                for window in (short, long)
            ]
        result.append((label, False if False in verdicts else (None if None in verdicts else True)))
    return tuple(result)


def scenarios(sp: SloPlan, step: int) -> list[Scenario]:
    pairs = sp.windows
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


def _matchers(matchers: tuple[m.Matcher, ...], ns: str, **extra: str) -> dict[str, str]:
    return {**{x.label: x.example for x in matchers}, m.NAMESPACE: ns, **extra}


def input_series(
    sp: SloPlan, mp: ModelPlan, sc: Scenario, step: int
) -> list[dict[str, str]] | None:
    """The synthetic series of a scenario, or None when the SLI's inputs cannot be derived."""
    sli = sp.slo.sli
    ns = mp.env.namespace
    segs = sc.segments
    per = step * sc.rate
    bad = [per * e for _, e in segs]
    good = [per * (1 - e) for _, e in segs]
    out: list[tuple[str, str]] = []
    if sli.availability is not None:
        req = m.requests(mp.serving.runtime, sp.object_name)
        for code, counts in (("500", bad), ("200", good)):
            labels = _matchers(req.matchers, ns, **{req.code_label: code})
            out.append((req.metric + _labels(labels), _counter(segs, counts)))
    elif sli.latency is not None:
        assert sp.latency_threshold is not None
        hist = m.histogram(mp.serving.runtime, sp.object_name)
        base = _matchers(hist.matchers, ns)
        le = sp.latency_threshold
        le_text = str(int(le)) if le.is_integer() else s.format_number(le)
        total = [per for _ in segs]
        out.append((hist.bucket + _labels({**base, "le": le_text}), _counter(segs, good)))
        out.append((hist.bucket + _labels({**base, "le": "+Inf"}), _counter(segs, total)))
        out.append((hist.count + _labels(base), _counter(segs, total)))
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
        limit = sli.drift.threshold
        metric, matchers = m.drift(sp.model.name, sli.drift.feature)
        runs = [
            (n + (1 if i == 0 else 0), limit * 2 if e else limit / 2, 0.0)
            for i, (n, e) in enumerate(segs)
        ]
        out.append((metric + _labels(_matchers(matchers, ns)), _values(runs)))
    else:
        assert sp.max_age is not None
        metric, matchers = m.freshness(workload_name(sp.object_name, TRAIN_SUFFIX))
        runs = []
        start = 0
        for i, (n, e) in enumerate(segs):
            samples = n + (1 if i == 0 else 0)
            offset = -(sp.max_age + s.DAY) if e else 0.0
            runs.append((samples, start * step + offset, float(step)))
            start += samples
        out.append((metric + _labels(_matchers(matchers, ns)), _values(runs)))
    return [{"series": name, "values": values} for name, values in out]


def _no_data_alerts(
    plan: Plan, sp: SloPlan, fed: frozenset[str] | None = None
) -> list[dict[str, Any]]:
    """The no-data alerts that fire when only the namespaces `fed` have series (one per other
    namespace; `events` SLIs have one for all, quiet while any series exists)."""
    scope = plain_scope(sp)
    base = {m.SEVERITY: "ticket", **static_labels(plan, sp, scope)}
    namespaces = no_data_namespaces(sp, scope)
    annotations = no_data_annotations(sp)
    return [
        {
            "exp_labels": base if ns is None else {**base, m.NAMESPACE: ns},
            "exp_annotations": annotations,
        }
        for ns in namespaces
        if fed is None or (ns is not None and ns not in fed)
    ]


def _calm_neighbours(
    sp: SloPlan, mp: ModelPlan, steps: int, rate: float, step: int
) -> list[dict[str, str]] | None:
    """Healthy series in every other namespace the SLO judges, as long as the scenario: a burn
    in one namespace must alert there alone (and no namespace reads as without data). None
    when there is none to add, or when healthy traffic there would not stay clearly quiet."""
    if sp.slo.sli.events is not None:
        return None  # the user's queries: no namespace to tell apart
    others: dict[str, ModelPlan] = {}
    for d in sp.deployments:
        if d.env.namespace != mp.env.namespace:
            others.setdefault(d.env.namespace, d)
    if not others:
        return None
    healthy = float(s.error_budget(sp)) / 2 if s.uses_requests(sp) else 0.0
    calm = Scenario("healthy", ((steps, healthy),), rate)
    if any(v is not False for v in expected(sp, calm, step).values()):
        return None
    series: list[dict[str, str]] = []
    for ns in sorted(others):
        more = input_series(sp, others[ns], calm, step)
        if more is None:
            return None
        series += more
    return series


def _burn_asserts(
    plan: Plan, sp: SloPlan, sc: Scenario, step: int, ns: str, end: str
) -> list[dict[str, Any]]:
    verdicts = expected(sp, sc, step)
    static = static_labels(plan, sp, plain_scope(sp))
    asserts = []
    for severity in ("page", "ticket"):
        pairs = [bw for bw in s.enabled_windows(sp) if bw.severity == severity]
        if not pairs or any(verdicts[bw.label] is None for bw in pairs):
            continue
        firing = []
        for bw in pairs:
            if verdicts[bw.label]:
                labels = {m.SEVERITY: severity, m.BURN_WINDOW: bw.label, **static}
                if sp.slo.sli.events is None:
                    labels[m.NAMESPACE] = ns
                firing.append(
                    {"exp_labels": labels, "exp_annotations": alert_annotations(plan, sp, bw)}
                )
        asserts.append(
            {"eval_time": end, "alertname": s.alert_name(sp, severity), "exp_alerts": firing}
        )
    return asserts


def test_file(plan: Plan, sp: SloPlan, rule_file: str) -> tuple[dict[str, Any], int]:
    """The promtool test file of one SLO and the number of alert assertions in it."""
    step = step_seconds(sp)
    mp = sp.deployments[0]  # the environment the synthetic series come from
    hold = s.NO_DATA_FOR if s.uses_requests(sp) else s.NO_DATA_FOR_GAUGE
    tests = []
    checks = 0
    cases = scenarios(sp, step)
    for sc in cases:
        series = input_series(sp, mp, sc, step)
        if series is None:
            continue
        steps = sum(n for n, _ in sc.segments)
        seconds = steps * step
        end = s.format_duration(seconds)
        asserts = _burn_asserts(plan, sp, sc, step, mp.env.namespace, end)
        fed = frozenset({mp.env.namespace})
        calm = _calm_neighbours(sp, mp, steps, cases[0].rate, step)
        if calm is not None:
            series = [*series, *calm]
            fed = fed | {d.env.namespace for d in sp.deployments}
        if seconds != hold:
            # Namespaces without series in this scenario: theirs fire after `for:`.
            silent = _no_data_alerts(plan, sp, fed) if seconds > hold else []
            asserts.append(
                {"eval_time": end, "alertname": s.no_data_name(sp), "exp_alerts": silent}
            )
        checks += len(asserts)
        tests.append(
            {
                "name": f"{sp.slo.name}: {sc.name}",
                "interval": s.format_duration(step),
                "input_series": series,
                "alert_rule_test": asserts,
            }
        )
    # No series at all (a metric name typo, a missing scrape): only the no-data alert fires.
    end = s.format_duration(hold + 2 * step)
    quiet = [
        {"eval_time": end, "alertname": s.alert_name(sp, severity), "exp_alerts": []}
        for severity in sorted({bw.severity for bw in s.enabled_windows(sp)})
    ]
    tests.append(
        {
            "name": f"{sp.slo.name}: no data raises the no-data alert",
            "interval": s.format_duration(step),
            "input_series": [{"series": 'up{job="unrelated"}', "values": "1x1"}],
            "alert_rule_test": [
                *quiet,
                {
                    "eval_time": end,
                    "alertname": s.no_data_name(sp),
                    "exp_alerts": _no_data_alerts(plan, sp),
                },
            ],
        }
    )
    checks += len(quiet) + 1
    doc = {
        "rule_files": [rule_file],
        "evaluation_interval": s.format_duration(step),
        "tests": tests,
    }
    return doc, checks
