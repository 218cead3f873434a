"""Canary analysis: the model's own availability and latency SLIs, measured on the canary's pods
alone, against the bad-event ratio its SLO allows (the error budget, 1 - objective).

Pure functions of the plan, shared by the Kubernetes target (an Argo Rollouts AnalysisTemplate
for runtime `deployment`) and by `mlopsc canary-check` (the promotion step of a KServe canary),
so that both judge a canary by the same queries (docs/kubernetes.md, "Canary analysis").

Each query is the canary's bad-event ratio over the analysis window, or NaN when the canary had
no traffic: NaN meets neither the success nor the failure condition, so the analysis is
inconclusive and a person decides, instead of a canary nobody called passing or failing.
"""

from __future__ import annotations

from dataclasses import dataclass

from compiler import conventions_metrics as m
from compiler import slo as s
from compiler.plan import ModelPlan, Plan
from compiler.spec.types import duration_seconds

# Argo Rollouts labels every pod with its ReplicaSet's template hash; the ServiceMonitor copies
# that pod label onto the scraped series (podTargetLabels), where it reads with underscores.
HASH_POD_LABEL = "rollouts-pod-template-hash"
HASH_SERIES_LABEL = "rollouts_pod_template_hash"
HASH_ARG = "canary-hash"
HASH_REF = "{{args." + HASH_ARG + "}}"  # where Argo Rollouts puts the argument's value
MEASUREMENTS = 5  # per analysis step
FAILURE_LIMIT = 1  # failed measurements tolerated: the second one aborts the rollout
MIN_WINDOW = s.MIN_SHORT  # a rate() needs a few scrapes

# The SLI series of a model server, per runtime, are the SLO rules': compiler/conventions_metrics.


@dataclass(frozen=True)
class CanaryCheck:
    """One SLI a canary must meet: `query` is its bad-event ratio, which must stay at or under
    `max_ratio`."""

    slo: str
    kind: str  # availability | latency
    query: str
    max_ratio: float

    @property
    def max_text(self) -> str:
        return s.format_number(self.max_ratio)

    @property
    def success(self) -> str:
        """Argo Rollouts' successCondition (expr language) on the query's result."""
        return f"result[0] <= {self.max_text}"

    @property
    def failure(self) -> str:
        return f"result[0] > {self.max_text}"


def interval_seconds(mp: ModelPlan) -> int:
    """The analysis interval of the model's rollout, in seconds."""
    return int(duration_seconds(mp.serving.rollout.analysis_interval))


def window(mp: ModelPlan) -> str:
    """The range each query rates over: the analysis interval, at least two minutes."""
    return s.format_duration(max(interval_seconds(mp), MIN_WINDOW))


def has_canary(mp: ModelPlan) -> bool:
    r = mp.serving.rollout
    return mp.serving.mode == "realtime" and r.strategy == "canary" and bool(r.canary_percent)


def judged_by_promotion(mp: ModelPlan) -> bool:
    """A KServe canary serving a candidate: no controller in the cluster judges it, so the
    promotion to the next environment runs `mlopsc canary-check` on it first."""
    kserve = mp.serving.runtime == "kserve" and mp.model.candidate is not None
    return kserve and has_canary(mp)


def _selector(matchers: dict[str, str]) -> str:
    """{a="b",c=~"d"}: keys ending in ~ are regex matchers (values are DNS names or args)."""
    parts = []
    for key, value in matchers.items():
        op = "=~" if key.endswith("~") else "="
        parts.append(f'{key.rstrip("~")}{op}"{value}"')
    return "{" + ",".join(parts) + "}"


def _matchers(matchers: tuple[m.Matcher, ...]) -> dict[str, str]:
    return {x.label + ("~" if x.regex else ""): x.value for x in matchers}


def _rate(metric: str, matchers: dict[str, str], w: str) -> str:
    return f"sum(rate({metric}{_selector(matchers)}[{w}]))"


def _le(threshold: str) -> dict[str, str]:
    seconds = duration_seconds(threshold)
    if float(seconds).is_integer():
        # Go clients write le="1", Python's prometheus_client le="1.0".
        return {"le~": f"{int(seconds)}|{int(seconds)}.0"}
    return {"le": s.format_number(seconds)}


def checks(plan: Plan, mp: ModelPlan) -> tuple[CanaryCheck, ...]:
    """The canary checks of a model in one environment, one per availability or latency SLO;
    empty when the model has no canary or no such SLO."""
    if not has_canary(mp):
        return ()
    w = window(mp)
    kserve = mp.serving.runtime == "kserve"
    base: dict[str, str]
    if kserve:
        # KServe's canary pods cannot be told apart in these series: the whole service
        # (stable and canary traffic) is measured (docs/kubernetes.md).
        base = {"namespace": mp.env.namespace}
    else:
        base = {
            "namespace": mp.env.namespace,
            "service": mp.object_name,
            HASH_SERIES_LABEL: HASH_REF,
        }
    found: list[CanaryCheck] = []
    for sp in plan.slos_by_model.get(mp.name, ()):
        sli = sp.slo.sli
        if sli.availability is not None:
            req = m.requests(mp.serving.runtime, mp.object_name)
            sel = {**base, **_matchers(req.matchers)} if kserve else base
            metric, code = req.metric, f"{req.code_label}~"
            total = _rate(metric, sel, w)
            bad = _rate(metric, {**sel, code: "5.."}, w)
            kind = "availability"
        elif sli.latency is not None:
            hist = m.histogram(mp.serving.runtime, mp.object_name)
            sel = {**base, **_matchers(hist.matchers)} if kserve else base
            total = _rate(hist.count, sel, w)
            good = _rate(hist.bucket, {**sel, **_le(sli.latency.threshold)}, w)
            bad = f"({total} - {good})"
            kind = "latency"
        else:
            continue  # events, drift and freshness SLIs do not select one pod's series
        # no bad event: 0, not a gap; no request at all: NaN, not a gap
        query = f"(({bad} or vector(0)) / {total}) or vector(NaN)"
        found.append(CanaryCheck(sp.slo.name, kind, query, float(s.error_budget(sp))))
    return tuple(found)
