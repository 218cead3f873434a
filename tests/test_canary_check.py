"""`mlopsc canary-check` against a stand-in Prometheus HTTP API: the KServe canary's checks are
the same queries as compiler/canary.py computes, and the exit code follows their verdicts."""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from compiler import canary
from compiler.plan import build_plan
from tests.conftest import EXAMPLES, run_mlopsc
from tests.helpers import check_text

SPEC = next(p for p in EXAMPLES if p.name == "payments-ml") / "mlops.yaml"


class FakePrometheus(BaseHTTPRequestHandler):
    """Answers /api/v1/query with the body the test set for it; records each query."""

    answer: Any = None
    queries: list[str] = []  # noqa: RUF012 (reset per test)

    def do_GET(self) -> None:
        url = urllib.parse.urlparse(self.path)
        query = urllib.parse.parse_qs(url.query).get("query", [""])[0]
        type(self).queries.append(query)
        body = json.dumps(self.answer).encode()
        self.send_response(200 if url.path == "/api/v1/query" else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def prometheus() -> Iterator[str]:
    FakePrometheus.queries = []
    server = HTTPServer(("127.0.0.1", 0), FakePrometheus)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def vector(value: str | None) -> dict[str, Any]:
    result = [] if value is None else [{"metric": {}, "value": [1.0, value]}]
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


def expected_queries(tmp_path: Path) -> list[str]:
    checked, _ = check_text(tmp_path, SPEC.read_text())
    assert checked is not None
    plan = build_plan(checked)
    ep = next(e for e in plan.environments if e.name == "production")
    mp = next(m for m in ep.models if m.name == "fraud-detector")
    return [c.query for c in canary.checks(plan, mp)]


def check(prometheus: str, *more: str) -> Any:
    return run_mlopsc(
        "canary-check", str(SPEC), "--environment", "production", "--prometheus", prometheus, *more
    )


def test_a_healthy_canary_passes_with_the_analysis_queries(prometheus: str, tmp_path: Path) -> None:
    FakePrometheus.answer = vector("0.0002")
    result = check(prometheus)
    assert result.returncode == 0, result.stderr
    queries = expected_queries(tmp_path)
    assert len(queries) == 2  # fraud-availability and fraud-latency; drift is not judged here
    assert FakePrometheus.queries == queries
    assert result.stdout.splitlines() == [
        "pass: fraud-detector fraud-availability (availability): bad ratio 0.0002, at most 0.001",
        "pass: fraud-detector fraud-latency (latency): bad ratio 0.0002, at most 0.01",
    ]


@pytest.mark.parametrize(
    ("answer", "verdict"),
    [(vector("0.2"), "fail"), (vector("NaN"), "inconclusive"), (vector(None), "inconclusive")],
)
def test_a_bad_or_unjudged_canary_stops_the_promotion(
    prometheus: str, answer: dict[str, Any], verdict: str
) -> None:
    FakePrometheus.answer = answer
    result = check(prometheus, "--model", "fraud-detector")
    assert result.returncode == 1, result.stderr
    assert all(line.startswith(f"{verdict}: ") for line in result.stdout.splitlines())
    assert "2 of 2 canary checks did not pass" in result.stderr


def test_prometheus_trouble_is_an_io_problem(prometheus: str) -> None:
    FakePrometheus.answer = {"status": "error", "error": "parse error"}
    result = check(prometheus)
    assert result.returncode == 2 and 'answered an error: "parse error"' in result.stderr
    FakePrometheus.answer = {"status": "success", "data": {"resultType": "matrix", "result": []}}
    assert check(prometheus).returncode == 2
    closed = check("http://127.0.0.1:9")  # nothing listens on the discard port
    assert closed.returncode == 2 and "cannot query" in closed.stderr
    assert "Traceback" not in closed.stderr


def test_nothing_to_judge_and_usage_errors(prometheus: str) -> None:
    FakePrometheus.answer = vector("0")
    staging = run_mlopsc(
        "canary-check", str(SPEC), "--environment", "staging", "--model", "churn-model"
    )
    assert staging.returncode == 0 and "no KServe canary" in staging.stderr
    assert FakePrometheus.queries == []
    unknown = run_mlopsc("canary-check", str(SPEC), "--environment", "prod")
    assert unknown.returncode == 2 and "no environment 'prod'" in unknown.stderr
