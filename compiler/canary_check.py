"""`mlopsc canary-check`: the canary analysis of compiler/canary.py, run once against an
environment's Prometheus, for canaries no controller judges (KServe's `spec.canary[]`).

A promotion step runs it before it moves a KServe candidate on: every check must pass; a
failed one, and an inconclusive one (no traffic, no series), stop the promotion. A runtime
`deployment` canary is judged in the cluster by Argo Rollouts with the same queries, so it is
listed and left out here.
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from compiler import canary
from compiler.plan import ModelPlan, Plan

MAX_ANSWER_BYTES = 16 << 20  # an instant query answers one sample: far less
TIMEOUT_SECONDS = 30


class PrometheusProblem(Exception):
    """Prometheus could not be asked, or answered something that is not a query result."""


@dataclass(frozen=True)
class Result:
    """One check's measurement: `value` is None when the query returned no sample."""

    model: str
    check: canary.CanaryCheck
    value: float | None

    @property
    def verdict(self) -> str:
        if self.value is None or math.isnan(self.value):
            return "inconclusive"
        return "pass" if self.value <= self.check.max_ratio else "fail"

    def line(self) -> str:
        shown = "no data" if self.value is None else f"{self.value:.6g}"
        return (
            f"{self.verdict}: {self.model} {self.check.slo} ({self.check.kind}): bad ratio "
            f"{shown}, at most {self.check.max_text}"
        )


def query(prometheus: str, promql: str) -> float | None:
    """The value of an instant query that returns one sample (None when it returns none)."""
    url = prometheus.rstrip("/") + "/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    if not url.startswith(("http://", "https://")):
        raise PrometheusProblem(f"not an http(s) URL: {prometheus}")
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
            raw = response.read(MAX_ANSWER_BYTES + 1)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise PrometheusProblem(f"cannot query {prometheus}: {exc}") from None
    if len(raw) > MAX_ANSWER_BYTES:
        raise PrometheusProblem(f"{prometheus} answered more than {MAX_ANSWER_BYTES >> 20} MiB")
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        # The answer is input too: nesting deeper than the decoder can go is a bad answer.
        reason = "nested too deeply" if isinstance(exc, RecursionError) else exc
        raise PrometheusProblem(f"cannot read the answer of {prometheus}: {reason}") from None
    if not isinstance(body, dict) or body.get("status") != "success":
        error = body.get("error") if isinstance(body, dict) else None
        said = json.dumps(error if isinstance(error, str) else body)[:300]
        raise PrometheusProblem(f"{prometheus} answered an error: {said}")
    data = body.get("data") or {}
    kind, result = data.get("resultType"), data.get("result")
    try:
        if kind == "scalar" and isinstance(result, list):
            return float(result[1])
        if kind == "vector" and isinstance(result, list):
            return float(result[0]["value"][1]) if result else None
    except (TypeError, ValueError, IndexError, KeyError):
        pass
    raise PrometheusProblem(f"{prometheus} answered an unexpected result: {data!r}"[:300])


def judged_here(mp: ModelPlan) -> bool:
    """Canaries this command judges: KServe's serving a candidate, which no controller in the
    cluster analyses."""
    return canary.judged_by_promotion(mp)


def run(plan: Plan, environment: str, models: list[str], prometheus: str) -> list[Result]:
    """Every check of the named models' KServe canaries (all of them when none is named)."""
    ep = next(e for e in plan.environments if e.name == environment)
    results: list[Result] = []
    for mp in ep.models:
        if (models and mp.name not in models) or not judged_here(mp):
            continue
        for check in canary.checks(plan, mp):
            results.append(Result(mp.name, check, query(prometheus, check.query)))
    return results
