"""mlopsc gate: metrics JSON against a model's promotion gates."""

from __future__ import annotations

import json
from pathlib import Path

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
    assert done.returncode == 2 and "no such metrics file" in done.stderr
    done = gate(tmp_path, GOOD, model="fraud-detektor")
    assert done.returncode == 2 and "did you mean 'fraud-detector'" in done.stderr


def test_model_without_fairness(tmp_path: Path) -> None:
    assert gate(tmp_path, {"f1": 0.75}, model="churn-model").returncode == 0
    assert gate(tmp_path, {"f1": 0.65}, model="churn-model").returncode == 1
