"""The generated Feast repository works end to end in Feast itself: `feast apply`, `feast
materialize`, then a model's FeatureService online and a point-in-time training set offline,
on parquet data written here, with every value coming back (never null)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_mlopsc, venv_tool

HOSTILE = "Quote\"s ''' \"\"\" back\\slash, new\nline, __import__('os').system('false') #"
SPEC = """\
apiVersion: mlopsc/v1
kind: MLOpsProject
metadata:
  name: round-trip
  owner: ml
  description: {hostile}
teams:
  - {{name: ml, email: ml@example.com}}
environments:
  - {{name: prod, namespace: rt-prod, approval: {{required: true, reviewers: [ml]}}}}
sources:
  - {{name: orders, kind: file, path: {orders_path}, timestamp_field: event_ts,
      description: {hostile}}}
  - {{name: profiles, kind: file, path: data/profiles.parquet, timestamp_field: updated_at}}
entities:
  - {{name: customer, join_keys: [customer_id], dtype: int64, description: {hostile}}}
features:
  - name: customer_orders
    entity: customer
    source: orders
    ttl: 30d
    description: {hostile}
    tags: {{{hostile_tag}: {hostile_tag}}}
    fields:
      - {{name: order_count, dtype: int64, description: {hostile}}}
      - {{name: basket_avg, dtype: float32, pii: true}}
      - {{name: visits, dtype: int32}}
  - name: customer_profile
    entity: customer
    source: profiles
    ttl: 30d
    fields:
      - {{name: tier, dtype: string}}
      - {{name: is_vip, dtype: bool}}
      - {{name: score, dtype: float64}}
      - {{name: avatar, dtype: bytes}}
      - {{name: last_seen, dtype: unix_timestamp}}
models:
  - name: recommender
    version: 1.0.0
    framework: sklearn
    description: {hostile}
    artifact: {{uri: "s3://m/recommender/1.0.0/"}}
    features: [customer_orders:order_count, customer_orders:basket_avg, customer_profile]
    serving:
      mode: realtime
      image: "ghcr.io/a/b@sha256:{digest}"
      resources: {{cpu: "1", memory: 1Gi}}
slos:
  - {{name: recommender-up, model: recommender, objective: 99.5, sli: {{availability: {{}}}}}}
"""
# A path with quotes and a backslash: it must reach Feast as the same bytes.
ORDERS_PATH = "data/orders 'q' \"dq\" \\b.parquet"

# Runs inside the feast venv, in the repository: data, `feast apply`, `feast materialize`
# (the feast command's own entry point), then both retrievals of the model's FeatureService.
SCRIPT = r"""
import json, sys
from datetime import datetime, timedelta, timezone

import pandas as pd
from feast import FeatureStore
from feast.cli.cli import cli

orders_path = sys.argv[1]
t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
pd.DataFrame(
    {
        "customer_id": pd.Series([1, 1, 2], dtype="int64"),
        "event_ts": [t0 - timedelta(days=2), t0 - timedelta(hours=1), t0 - timedelta(hours=3)],
        "order_count": pd.Series([3, 5, 7], dtype="int64"),
        "basket_avg": pd.Series([9.5, 1.5, 2.5], dtype="float32"),
        "visits": pd.Series([1, 3, 4], dtype="int32"),
    }
).to_parquet(orders_path)
pd.DataFrame(
    {
        "customer_id": pd.Series([1, 2], dtype="int64"),
        "updated_at": [t0 - timedelta(days=3), t0 - timedelta(days=3)],
        "tier": ["gold", "silver"],
        "is_vip": [True, False],
        "score": [0.5, 0.25],
        "avatar": [b"a\x00", b"b"],
        "last_seen": [t0 - timedelta(days=4), t0 - timedelta(days=5)],
    }
).to_parquet("data/profiles.parquet")

for args in (["apply"], ["materialize", "2025-12-01T00:00:00", "2026-01-01T00:00:00"]):
    cli.main(args, prog_name="feast", standalone_mode=False)

store = FeatureStore(repo_path=".")
service = store.get_feature_service("recommender")
online = store.get_online_features(
    features=service, entity_rows=[{"customer_id": 1}, {"customer_id": 2}]
).to_dict()
entity_df = pd.DataFrame(
    {
        "customer_id": pd.Series([1, 1, 2], dtype="int64"),
        "event_timestamp": [t0 - timedelta(days=1), t0, t0],
    }
)
history = (
    store.get_historical_features(entity_df=entity_df, features=service)
    .to_df()
    .sort_values(["customer_id", "event_timestamp"])
    .to_dict("list")
)


def plain(value):
    if isinstance(value, bytes):
        return "hex:" + value.hex()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return repr(value)


print("RESULT " + json.dumps({"online": online, "history": history}, default=plain))
"""


def _yaml(value: str) -> str:
    return json.dumps(value)


@pytest.fixture(scope="module")
def round_trip(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("feast-round-trip")
    spec = base / "mlops.yaml"
    spec.write_text(
        SPEC.format(
            hostile=_yaml(HOSTILE),
            hostile_tag=_yaml(HOSTILE.replace("\n", " ")),  # tags are not free text: no newline
            orders_path=_yaml(ORDERS_PATH),
            digest="a" * 64,
        ),
        encoding="utf-8",
    )
    out = base / "out"
    built = run_mlopsc("build", str(spec), "-o", str(out), "--only", "feast")
    assert built.returncode == 0, built.stderr
    repo = out / "feast"
    (repo / "data").mkdir()
    python = Path(venv_tool("feast")).parent / "python"
    result = subprocess.run(
        [str(python), "-c", SCRIPT, ORDERS_PATH],
        cwd=repo,
        env={**os.environ, "FEAST_USAGE": "False"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    line = next(x for x in result.stdout.splitlines() if x.startswith("RESULT "))
    found: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
    return found


def test_online_features_of_the_model_service_are_the_latest_values(
    round_trip: dict[str, Any],
) -> None:
    online = round_trip["online"]
    assert online["customer_id"] == [1, 2]
    assert online["order_count"] == [5, 7]
    assert online["basket_avg"] == [1.5, 2.5]
    assert online["tier"] == ["gold", "silver"]
    assert online["is_vip"] == [True, False]
    assert online["score"] == [0.5, 0.25]
    assert online["avatar"] == ["hex:6100", "hex:62"]
    assert online["last_seen"] == ["2025-12-28T00:00:00+00:00", "2025-12-27T00:00:00+00:00"]
    # The service projects exactly the model's fields: not `visits`, which it does not use.
    assert "visits" not in online
    assert all(None not in values for values in online.values())


def test_historical_features_are_point_in_time_correct(round_trip: dict[str, Any]) -> None:
    history = round_trip["history"]
    assert history["customer_id"] == [1, 1, 2]
    # A day before t0 customer 1 had only its first order row; at t0 the newer one.
    assert history["order_count"] == [3, 5, 7]
    assert history["basket_avg"] == [9.5, 1.5, 2.5]
    assert history["tier"] == ["gold", "gold", "silver"]
    assert history["score"] == [0.5, 0.5, 0.25]
    assert history["event_timestamp"] == [
        "2025-12-31T00:00:00+00:00",
        "2026-01-01T00:00:00+00:00",
        "2026-01-01T00:00:00+00:00",
    ]
    assert "visits" not in history
    assert all(None not in values for values in history.values())
