"""mlopsc gate: metrics JSON against a model's promotion gates."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_mlopsc

SPEC = str(ROOT / "examples" / "payments-ml" / "mlops.yaml")
GOOD = {"auc": 0.95, "latency_p99_ms": 41, "fairness": {"demographic_parity_difference": 0.04}}


def gate(tmp_path: Path, metrics: object, model: str = "fraud-detector", raw: str | None = None):  # type: ignore[no-untyped-def]
    path = tmp_path / "metrics.json"
    path.write_text(raw if raw is not None else json.dumps(metrics))
    return run_mlopsc("gate", SPEC, "--model", model, "--metrics", str(path))


def test_pass(tmp_path: Path) -> None:
    done = gate(tmp_path, GOOD)
    assert done.returncode == 0, done.stderr
    assert "ok   auc >= 0.92: 0.95" in done.stdout
    assert "all 3 gates passed" in done.stderr


def test_miss_min(tmp_path: Path) -> None:
    done = gate(tmp_path, {**GOOD, "auc": 0.9})
    assert done.returncode == 1
    assert "FAIL auc >= 0.92: 0.9 misses the gate" in done.stdout
    assert "1 of 3 gates missed" in done.stderr


def test_miss_max(tmp_path: Path) -> None:
    done = gate(tmp_path, {**GOOD, "latency_p99_ms": 51})
    assert done.returncode == 1
    assert "FAIL latency_p99_ms <= 50: 51 misses the gate" in done.stdout


def test_fairness_exceeded(tmp_path: Path) -> None:
    done = gate(tmp_path, {**GOOD, "fairness": {"demographic_parity_difference": 0.2}})
    assert done.returncode == 1
    assert (
        "FAIL fairness demographic_parity_difference <= 0.1: 0.2 exceeds the bound" in done.stdout
    )


def test_fairness_per_attribute_and_top_level(tmp_path: Path) -> None:
    per_attr = {**GOOD, "fairness": {"demographic_parity_difference": {"age_band": 0.05}}}
    assert gate(tmp_path, per_attr).returncode == 0
    flat = {"auc": 0.95, "latency_p99_ms": 41, "demographic_parity_difference": 0.15}
    assert gate(tmp_path, flat).returncode == 1


def test_missing_metric(tmp_path: Path) -> None:
    done = gate(tmp_path, {"auc": 0.95, "fairness": {"demographic_parity_difference": 0.0}})
    assert done.returncode == 1
    assert "FAIL latency_p99_ms <= 50: missing from the metrics file" in done.stdout


def test_bad_json_is_usage_error(tmp_path: Path) -> None:
    done = gate(tmp_path, None, raw="{not json")
    assert done.returncode == 2
    assert "not valid JSON" in done.stderr and "Traceback" not in done.stderr


def test_not_a_number_and_not_an_object(tmp_path: Path) -> None:
    assert gate(tmp_path, {**GOOD, "auc": "high"}).returncode == 2
    assert gate(tmp_path, [1, 2]).returncode == 2


def test_missing_file_and_unknown_model(tmp_path: Path) -> None:
    done = run_mlopsc(
        "gate", SPEC, "--model", "fraud-detector", "--metrics", str(tmp_path / "no.json")
    )
    assert done.returncode == 2 and "no.json: no such file" in done.stderr
    done = gate(tmp_path, GOOD, model="fraud-detektor")
    assert done.returncode == 2 and "did you mean 'fraud-detector'" in done.stderr


def test_model_without_fairness(tmp_path: Path) -> None:
    assert gate(tmp_path, {"f1": 0.75}, model="churn-model").returncode == 0
    assert gate(tmp_path, {"f1": 0.65}, model="churn-model").returncode == 1


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ('{"auc": Infinity', "inf is not a finite number"),
        ('{"auc": -Infinity', "-inf is not a finite number"),
        ('{"auc": NaN', "nan is not a finite number"),
        ('{"auc": 1e999', "inf is not a finite number"),
        ('{"auc": ' + "9" * 5000, "inf is not a finite number"),
    ],
)
def test_non_finite_metrics_fail_the_gate(tmp_path: Path, raw: str, shown: str) -> None:
    rest = ', "latency_p99_ms": 41, "fairness": {"demographic_parity_difference": 0.04}}'
    done = gate(tmp_path, None, raw=raw + rest)
    assert done.returncode == 1, done.stderr
    assert f"FAIL auc >= 0.92: {shown}" in done.stdout
    assert "Traceback" not in done.stderr


def test_non_finite_fairness_fails(tmp_path: Path) -> None:
    raw = '{"auc": 0.95, "latency_p99_ms": 41, "fairness": {"demographic_parity_difference": {"age": NaN}}}'
    done = gate(tmp_path, None, raw=raw)
    assert done.returncode == 1
    assert "[age] <= 0.1: nan is not a finite number" in done.stdout


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_deeply_nested_metrics_are_a_usage_error(tmp_path: Path, depth: int) -> None:
    done = gate(tmp_path, None, raw='{"auc": ' + "[" * depth + "]" * depth + "}")
    assert done.returncode == 2, done.stderr
    assert "nests too deeply" in done.stderr or "not a number" in done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr


def test_a_metrics_key_cannot_forge_a_verdict_line(tmp_path: Path) -> None:
    forged = "x\nok   auc >= 0.92: 0.99"
    metrics = {**GOOD, "auc": 0.5, "fairness": {"demographic_parity_difference": {forged: 0.01}}}
    done = gate(tmp_path, metrics)
    assert done.returncode == 1
    assert not any(line.startswith("ok   auc") for line in done.stdout.splitlines())
    assert "[x\\nok   auc >= 0.92: 0.99]" in done.stdout


@pytest.mark.parametrize("kind", ["fifo", "folder", "device"])
def test_metrics_must_be_a_regular_file(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "metrics.json"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    else:
        path = Path("/dev/zero")
    done = run_mlopsc("gate", SPEC, "--model", "fraud-detector", "--metrics", str(path))
    assert done.returncode == 2, done.stderr
    assert "not a regular file" in done.stderr
