"""What Feast 0.67 cannot serve is refused at validate time, located at the key that causes it;
mixed source kinds compile to Feast's hybrid offline store, which Feast itself loads."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import run_mlopsc, venv_tool

DIGEST = "a" * 64
HEAD = """\
apiVersion: mlopsc/v1
kind: MLOpsProject
metadata: {name: mixed-shop, owner: ml}
teams:
  - {name: ml, email: ml@example.com}
environments:
  - {name: dev, namespace: mixed-dev}
  - {name: prod, namespace: mixed-prod, approval: {required: true, reviewers: [ml]}}
"""
SOURCES = """\
sources:
  - {name: orders, kind: file, path: data/orders.parquet, timestamp_field: event_ts}
  - {name: profiles, kind: bigquery, table: acme.crm.profiles, timestamp_field: updated_at}
  - {name: ledger, kind: postgres, table: public.ledger, timestamp_field: booked_at}
  - {name: clicks, kind: kafka, table: clicks.v1, bootstrap_servers: "k:9092"}
entities:
  - {name: customer, join_keys: [customer_id], dtype: int64}
"""


def view(name: str, source: str, *, online: bool = True) -> str:
    return (
        f"  - {{name: {name}, entity: customer, source: {source}, online: {str(online).lower()}, "
        f"fields: [{{name: {name}_value, dtype: float64}}]}}\n"
    )


def model(name: str, features: list[str], *, mode: str = "batch", overrides: str = "") -> str:
    image = f'image: "ghcr.io/a/b@sha256:{DIGEST}", resources: {{cpu: "1", memory: 1Gi}}'
    serving = (
        f'{{mode: batch, {image}, schedule: "0 1 * * *"{overrides}}}'
        if mode == "batch"
        else f"{{mode: realtime, {image}{overrides}}}"
    )
    return (
        f"  - name: {name}\n    version: 1.0.0\n    framework: sklearn\n"
        f'    artifact: {{uri: "s3://m/{name}/"}}\n'
        f"    features: [{', '.join(features)}]\n    serving: {serving}\n"
    )


def write_spec(
    folder: Path, views: str, models: str, tail: str = "", sources: str = SOURCES
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    spec = folder / "mlops.yaml"
    spec.write_text(
        HEAD + sources + "features:\n" + views + "models:\n" + models + tail, encoding="utf-8"
    )
    return spec


def diagnostics(spec: Path) -> list[dict[str, Any]]:
    result = run_mlopsc("validate", str(spec), "--format", "json")
    found: list[dict[str, Any]] = json.loads(result.stdout)
    errors = [d for d in found if d["severity"] == "error"]
    assert result.returncode == (1 if errors else 0), result.stdout + result.stderr
    return found


def line_of(spec: Path, needle: str, nth: int = 0) -> int:
    lines = [i for i, line in enumerate(spec.read_text().splitlines(), 1) if needle in line]
    return lines[nth]


def feast_store(tmp_path: Path, spec: Path) -> dict[str, Any]:
    out = tmp_path / "out"
    result = run_mlopsc("build", str(spec), "-o", str(out), "--only", "feast")
    assert result.returncode == 0, result.stderr
    loaded: dict[str, Any] = yaml.safe_load((out / "feast" / "feature_store.yaml").read_text())
    return loaded


def test_entity_with_two_join_keys_is_refused_at_the_second(tmp_path: Path) -> None:
    sources = SOURCES.replace("join_keys: [customer_id]", "join_keys: [customer_id, region]")
    spec = write_spec(tmp_path, view("a", "orders"), model("m", ["a"]), sources=sources)
    [found] = [d for d in diagnostics(spec) if "join key" in d["message"]]
    assert found["code"] == "MLC329" and found["severity"] == "error"
    assert "entity 'customer' has 2 join keys" in found["message"]
    text = spec.read_text().splitlines()[found["line"] - 1]
    assert text[found["column"] - 1 :].startswith("region")


def test_realtime_model_on_an_offline_view_is_an_error_per_feature(tmp_path: Path) -> None:
    views = view("hot", "orders") + view("cold", "orders", online=False)
    models = model("live", ["hot", "cold:cold_value"], mode="realtime") + model("nightly", ["cold"])
    spec = write_spec(tmp_path, views, models)
    found = [d for d in diagnostics(spec) if "not online" in d["message"]]
    # The batch model reads the same offline view from the offline store: no error for it.
    assert [(d["line"], d["severity"]) for d in found] == [(line_of(spec, "hot, cold"), "error")]
    assert "realtime model 'live' uses 'cold:cold_value'" in found[0]["message"]
    assert "null" in found[0]["message"] and "online: true" in found[0]["hint"]


def test_a_model_realtime_in_one_environment_only_still_needs_online_views(tmp_path: Path) -> None:
    views = view("cold", "orders", online=False)
    models = model("m", ["cold"], overrides=", overrides: {prod: {mode: realtime}}")
    spec = write_spec(tmp_path, views, models)
    assert [d["message"] for d in diagnostics(spec) if "not online" in d["message"]]


def test_mixed_kinds_compile_to_the_hybrid_store(tmp_path: Path) -> None:
    views = view("orders_v", "orders") + view("profile_v", "profiles") + view("click_v", "clicks")
    models = model("spans", ["orders_v", "profile_v"]) + model("one", ["profile_v"])
    spec = write_spec(tmp_path, views, models)
    found = diagnostics(spec)
    assert [d["severity"] for d in found] == ["warning"], found
    warning = found[0]
    assert warning["line"] == line_of(spec, "orders_v, profile_v")
    assert "orders (file), profiles (bigquery)" in warning["message"]
    assert "one batch source per get_historical_features call" in warning["message"]
    assert "once per source" in warning["hint"]
    # Both file batch sources (orders, and the kafka history file) go to the one file store.
    assert feast_store(tmp_path, spec)["offline_store"] == {
        "type": "hybrid",
        "offline_stores": [{"type": "bigquery", "conf": {}}, {"type": "file", "conf": {}}],
    }


def test_two_sources_of_one_kind_need_no_hybrid_store(tmp_path: Path) -> None:
    views = view("orders_v", "orders") + view("click_v", "clicks")
    spec = write_spec(tmp_path, views, model("m", ["orders_v", "click_v"]))
    assert diagnostics(spec) == []
    assert feast_store(tmp_path, spec)["offline_store"] == {"type": "file"}


def test_declared_stores_are_compiled_in_order_with_their_settings(tmp_path: Path) -> None:
    tail = (
        "feature_store:\n  offline_stores:\n    - {type: file}\n"
        "    - {type: snowflake, database: FEAST, password_env: SF_PASSWORD}\n"
    )
    sources = SOURCES.replace(
        "kind: bigquery, table: acme.crm.profiles", "kind: snowflake, table: A.B.C"
    )
    views = view("orders_v", "orders") + view("profile_v", "profiles")
    spec = write_spec(tmp_path, views, model("m", ["profile_v"]), tail, sources=sources)
    assert diagnostics(spec) == []
    assert feast_store(tmp_path, spec)["offline_store"] == {
        "type": "hybrid",
        "offline_stores": [
            {"type": "file", "conf": {}},
            {
                "type": "snowflake.offline",
                "conf": {"database": "FEAST", "password": "${SF_PASSWORD}"},
            },
        ],
    }


@pytest.mark.parametrize(
    ("views", "tail", "needle", "at"),
    [
        (  # postgres cannot be routed by the hybrid store
            view("orders_v", "orders") + view("ledger_v", "ledger"),
            "",
            "postgres source 'ledger' cannot be read next to other source kinds",
            "name: ledger",
        ),
        (  # a default store that needs settings
            view("ledger_v", "ledger"),
            "",
            "postgres source 'ledger' needs a configured postgres offline store",
            "name: ledger",
        ),
        (  # one declared store, another kind of source
            view("orders_v", "orders"),
            "feature_store:\n  offline_store: {type: bigquery}\n",
            "no offline store reads file source 'orders' (offline stores: bigquery)",
            "name: orders",
        ),
        (  # the kafka history file needs a file store too
            view("profile_v", "profiles") + view("click_v", "clicks"),
            "feature_store:\n  offline_stores: [{type: bigquery}]\n",
            "no offline store reads file source 'clicks_batch' (the history of kafka source "
            "'clicks')",
            "name: clicks",
        ),
        (  # a declared store no view needs
            view("orders_v", "orders"),
            "feature_store:\n  offline_stores: [{type: file}, {type: bigquery}]\n",
            "the bigquery offline store reads none of the feature views' sources",
            "{type: file}, {type: bigquery}",
        ),
        (
            view("orders_v", "orders") + view("profile_v", "profiles"),
            "feature_store:\n  offline_stores: [{type: duckdb}, {type: bigquery}]\n",
            "Feast's hybrid offline store cannot use a duckdb store",
            "{type: duckdb}",
        ),
        (
            view("orders_v", "orders"),
            "feature_store:\n  offline_stores: [{type: file}, {type: dask}]\n",
            "two offline stores read file sources (entries 1 and 2)",
            "{type: dask}",
        ),
        (
            view("orders_v", "orders"),
            "feature_store:\n  offline_store: {type: file}\n  offline_stores: [{type: file}]\n",
            "set feature_store.offline_store (one store) or offline_stores",
            "offline_stores:",
        ),
        (
            view("ledger_v", "ledger"),
            "feature_store:\n  offline_store: {type: postgres, host: db}\n",
            "the postgres offline store needs 'database', 'user', 'password_env'",
            "offline_store: {type: postgres",
        ),
        (
            view("orders_v", "orders"),
            "feature_store:\n  online_store: {type: postgres}\n",
            "a postgres online store needs 'host' and 'database'",
            "online_store:",
        ),
    ],
)
def test_offline_store_that_cannot_read_is_a_located_error(
    tmp_path: Path, views: str, tail: str, needle: str, at: str
) -> None:
    first_view = views.split("name: ", 1)[1].split(",", 1)[0]
    spec = write_spec(tmp_path, views, model("m", [first_view]), tail)
    found = [d for d in diagnostics(spec) if needle in d["message"]]
    assert len(found) == 1, diagnostics(spec)
    assert found[0]["code"] == "MLC329" and found[0]["severity"] == "error"
    assert found[0]["line"] == line_of(spec, at)


def test_feast_loads_the_hybrid_store(tmp_path: Path) -> None:
    """`feast plan` reads the hybrid feature_store.yaml (the store type 0.67 registers)."""
    views = view("orders_v", "orders") + view("profile_v", "profiles")
    spec = write_spec(tmp_path, views, model("m", ["orders_v"]))
    result = run_mlopsc("build", str(spec), "-o", str(tmp_path / "out"), "--only", "feast")
    assert result.returncode == 0, result.stderr
    repo = tmp_path / "repo"
    shutil.copytree(tmp_path / "out" / "feast", repo)
    planned = subprocess.run(
        [venv_tool("feast"), "plan", "--skip-source-validation"],
        cwd=repo,
        env={**os.environ, "FEAST_USAGE": "False"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert "Created feature view profile_v" in planned.stdout
