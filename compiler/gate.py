"""Promotion gates: an evaluation's metrics JSON checked against the model's `evaluation`.

The evaluation step writes one JSON object, for example
`{"auc": 0.94, "latency_p99_ms": 41, "fairness": {"demographic_parity_difference": 0.04}}`.
A fairness value may also sit at the top level, or be a mapping of protected attribute →
value, in which case every attribute must stay within the bound (EU AI Act Art. 10).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from compiler.diagnostics import printable
from compiler.errors import UsageProblem
from compiler.files import read_regular
from compiler.spec.models import Model

MAX_BYTES = 16 * 1024 * 1024


class MetricsProblem(UsageProblem):
    """The metrics file cannot be read or is not the expected shape (exit 2)."""


@dataclass(frozen=True)
class Check:
    """One gate and how the metrics met it."""

    metric: str
    bound: str  # ">= 0.92", "<= 50"
    value: float | None
    passed: bool
    reason: str

    def line(self) -> str:
        mark = "ok  " if self.passed else "FAIL"
        # attribute names come from the metrics file: no line of theirs may forge a verdict
        return printable(f"{mark} {self.metric} {self.bound}: {self.reason}")


def _parse_int(text: str) -> int | float:
    # Python refuses to convert more than 4,300 digits; a metric that long is not finite as a
    # float, which is how the gate then judges it.
    return int(text) if len(text) <= 300 else float(text)


def read_metrics(path: str) -> dict[str, Any]:
    """The metrics object from a JSON file (a regular file; NaN and Infinity are read, and
    fail the gates they reach)."""
    content = read_regular(path, limit=MAX_BYTES)
    try:
        data = json.loads(content.decode("utf-8"), parse_int=_parse_int)
    except UnicodeDecodeError as exc:
        raise MetricsProblem(f"{path}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise MetricsProblem(
            f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}"
        ) from None
    except RecursionError:
        raise MetricsProblem(f"{path}: the JSON nests too deeply") from None
    if not isinstance(data, dict):
        raise MetricsProblem(f"{path}: expected a JSON object of metric → number")
    return data


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MetricsProblem(f"metric '{name}' is {json.dumps(value)}, not a number")
    return float(value)


def _bound(value: float | None, *, low: float | None, high: float | None) -> bool:
    if value is None or not math.isfinite(value):
        return False  # NaN compares false, and an infinite metric is a broken evaluation
    return (low is None or value >= low) and (high is None or value <= high)


def _verdict(value: float, ok: bool, miss: str) -> str:
    if not math.isfinite(value):
        return f"{value:g} is not a finite number"
    return f"{value:g}" + ("" if ok else f" {miss}")


def check_gates(model: Model, metrics: dict[str, Any]) -> list[Check]:
    """Every gate of the model's evaluation against the metrics, in a fixed order."""
    checks: list[Check] = []
    evaluation = model.evaluation
    if evaluation is None:
        return checks
    for name, gate in sorted(evaluation.metrics.items()):
        bounds = [f">= {gate.min:g}"] if gate.min is not None else []
        bounds += [f"<= {gate.max:g}"] if gate.max is not None else []
        bound = " and ".join(bounds) or "(no bound)"
        if name not in metrics:
            checks.append(Check(name, bound, None, False, "missing from the metrics file"))
            continue
        value = _number(name, metrics[name])
        ok = _bound(value, low=gate.min, high=gate.max)
        checks.append(Check(name, bound, value, ok, _verdict(value, ok, "misses the gate")))
    fairness = evaluation.fairness
    if fairness is not None:
        name = fairness.metric
        bound = f"<= {fairness.max:g}"
        nested = metrics.get("fairness")
        raw: Any = (
            nested.get(name) if isinstance(nested, dict) and name in nested else metrics.get(name)
        )
        label = f"fairness {name}"
        if raw is None:
            checks.append(Check(label, bound, None, False, "missing from the metrics file"))
        elif isinstance(raw, dict):
            if not raw:
                checks.append(Check(label, bound, None, False, "no protected attribute measured"))
            for attribute in fairness.protected_attributes:
                if attribute not in raw:
                    checks.append(
                        Check(
                            f"{label}[{attribute}]",
                            bound,
                            None,
                            False,
                            "missing from the metrics file",
                        )
                    )
            for attribute, item in sorted(raw.items()):
                value = _number(f"{name}[{attribute}]", item)
                ok = _bound(abs(value), low=None, high=fairness.max)
                checks.append(
                    Check(
                        f"{label}[{attribute}]",
                        bound,
                        value,
                        ok,
                        _verdict(value, ok, "exceeds the bound"),
                    )
                )
        else:
            value = _number(name, raw)
            ok = _bound(abs(value), low=None, high=fairness.max)
            checks.append(Check(label, bound, value, ok, _verdict(value, ok, "exceeds the bound")))
    return checks
