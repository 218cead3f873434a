"""The Feast target: its repository is accepted by Feast itself (`feast plan`), formatted and safe."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from compiler.targets.feast import timedelta_of
from compiler.targets.feast_python import py_docstring, py_str
from tests.conftest import EXAMPLES, example_ids, require_tool, run_mlopsc, venv_tool

FEAST_TIMEOUT = 180
# `feast plan` validates every batch source by connecting to it (BigQuery, Snowflake and
# Redshift need their client libraries and credentials); offline, only file and postgres
# sources can be checked, so examples holding warehouse sources skip that one step.
WAREHOUSE = ("bigquery", "snowflake", "redshift")

HOSTILE = (
    'Hostile """ and \'\'\' quotes, back\\slash\\, new\nline, tab\t, x"); import os #'
    " __import__('os').system('false')"
)

MINI = """\
apiVersion: mlopsc/v1
kind: MLOpsProject
metadata:
  name: mini-shop
  owner: ml
  description: {hostile}
teams:
  - {{name: ml, email: ml@example.com}}
environments:
  - {{name: staging, namespace: mini-staging, approval: {{required: true, reviewers: [ml]}}}}
sources:
  - name: orders
    kind: file
    path: {path}
    timestamp_field: event_ts
    description: {hostile}
entities:
  - {{name: customer, join_keys: [customer_id], dtype: int64, description: {hostile}}}
features:
  - name: customer_orders
    entity: customer
    source: orders
    ttl: 90m
    tags: {{{hostile_key}: {hostile_key}}}
    fields:
      - {{name: order_count, dtype: int64, description: {hostile}}}
      - {{name: basket_avg, dtype: float32, pii: true}}
{flags}models:
  - name: recommender
    version: 1.0.0
    framework: sklearn
    description: {hostile}
    artifact: {{uri: "s3://m/recommender/1.0.0/"}}
    features: [customer_orders:order_count{flags_ref}]
    serving:
      mode: batch
      image: "ghcr.io/a/b@sha256:{digest}"
      schedule: "0 1 * * *"
      resources: {{cpu: "1", memory: 1Gi}}
{extra}"""

FLAGS = """\
  - name: customer_flags
    entity: customer
    source: orders
    fields:
      - {name: is_vip, dtype: bool}
      - {name: last_seen, dtype: unix_timestamp}
      - {name: avatar, dtype: bytes}
      - {name: tier, dtype: string}
      - {name: visits, dtype: int32}
      - {name: score, dtype: float64}
"""


def mini_spec(folder: Path, *, flags: bool = True, extra: str = "") -> Path:
    """A file-only spec full of hostile strings; `flags` adds a second view the model uses."""
    text = MINI.format(
        hostile=_yaml_str(HOSTILE),
        # tags are not free text: no control characters (MLC219), every other hostile character
        hostile_key=_yaml_str(HOSTILE.replace("\n", " ").replace("\t", " ")),
        path=_yaml_str('data/orders\'"""\\.parquet'),
        flags=FLAGS if flags else "",
        flags_ref=", customer_flags" if flags else "",
        digest="a" * 64,
        extra=extra,
    )
    folder.mkdir(parents=True, exist_ok=True)
    spec = folder / "mlops.yaml"
    spec.write_text(text, encoding="utf-8")
    return spec


def _yaml_str(value: str) -> str:
    import json

    return json.dumps(value)


def feast_cmd(repo: Path, *args: str) -> subprocess.Popen[str]:
    """Start the feast CLI in a repository copy (it writes its registry there)."""
    env = {**os.environ, "FEAST_USAGE": "False"}
    return subprocess.Popen(
        [venv_tool("feast"), *args],
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(proc: subprocess.Popen[str]) -> str:
    out, _ = proc.communicate(timeout=FEAST_TIMEOUT)
    assert proc.returncode == 0, out
    assert "Traceback" not in out, out
    return out


def copy_repo(out: Path, dest: Path) -> Path:
    shutil.copytree(out / "feast", dest)
    return dest


def needs_warehouse(example: Path) -> bool:
    text = "\n".join(p.read_text() for p in example.rglob("*.yaml"))
    return any(f"kind: {kind}" in text for kind in WAREHOUSE)


@pytest.fixture(scope="module")
def example_plans(
    built_examples: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """`feast plan` of every example, run concurrently (each takes 10 to 15 seconds)."""
    base = tmp_path_factory.mktemp("feast-plan")
    procs = {}
    for example in EXAMPLES:
        repo = copy_repo(built_examples[example.name], base / example.name)
        args = ["plan", "--skip-source-validation"] if needs_warehouse(example) else ["plan"]
        procs[example.name] = feast_cmd(repo, *args)
    return {name: finish(proc) for name, proc in procs.items()}


def plan_objects(out: Path) -> dict[str, list[str]]:
    """Entities, views and services features.py declares, read back from its syntax tree."""
    tree = ast.parse((out / "feast" / "features.py").read_text(encoding="utf-8"))
    found: dict[str, list[str]] = {"Entity": [], "FeatureView": [], "FeatureService": []}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in found:
            name = next(k.value for k in node.keywords if k.arg == "name")
            assert isinstance(name, ast.Constant)
            found[node.func.id].append(name.value)
    return found


@pytest.mark.parametrize("example", example_ids())
def test_feast_plan_lists_everything(
    example: str, example_plans: dict[str, str], built_examples: dict[str, Path]
) -> None:
    out = example_plans[example]
    objects = plan_objects(built_examples[example])
    assert objects["FeatureView"] and objects["FeatureService"]
    for name in objects["Entity"]:
        assert f"Created entity {name}\n" in out
    for name in objects["FeatureView"]:
        assert f"Created feature view {name}\n" in out
    for name in objects["FeatureService"]:
        assert f"Created feature service {name}\n" in out


@pytest.mark.parametrize("example", example_ids())
def test_features_py_is_formatted_python(example: str, built_examples: dict[str, Path]) -> None:
    path = built_examples[example] / "feast" / "features.py"
    ast.parse(path.read_text(encoding="utf-8"))
    ruff = require_tool("ruff", "pip install ruff")
    result = subprocess.run(
        [ruff, "format", "--isolated", "--check", str(path)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert path.read_text().startswith("# Generated by mlopsc")


def test_one_service_per_model_with_exactly_its_fields(built_examples: dict[str, Path]) -> None:
    tree = ast.parse((built_examples["payments-ml"] / "feast" / "features.py").read_text())
    services = {}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "FeatureService"
        ):
            kw = {k.arg: k.value for k in node.keywords}
            services[ast.literal_eval(kw["name"])] = ast.unparse(kw["features"])
    assert services == {
        "churn-model": "[view_customer_profile[['tenure_months', 'home_country', 'plan_tier']], "
        "view_customer_txn_stats[['txn_count_7d']]]",
        "fraud-detector": "[view_customer_txn_stats[['txn_count_7d', 'txn_amount_avg_7d', "
        "'merchant_diversity_30d']]]",
    }


def test_feature_store_yaml(built_examples: dict[str, Path]) -> None:
    import yaml

    text = (built_examples["payments-ml"] / "feast" / "feature_store.yaml").read_text()
    assert text.startswith("# Generated by mlopsc")
    assert yaml.safe_load(text) == {
        "project": "payments_ml",
        "provider": "local",
        "registry": "data/registry.db",
        "online_store": {"type": "sqlite", "path": "data/online_store.db"},
        "offline_store": {"type": "file"},
        "entity_key_serialization_version": 3,
    }


def test_hostile_strings_stay_data(tmp_path: Path) -> None:
    spec = mini_spec(tmp_path / "spec")
    result = run_mlopsc("build", str(spec), "-o", str(tmp_path / "out"), "--only", "feast")
    assert result.returncode == 0, result.stderr
    source = (tmp_path / "out" / "feast" / "features.py").read_text(encoding="utf-8")
    tree = ast.parse(source)
    # The only statements are imports, a docstring and assignments of calls: nothing injected.
    for node in tree.body:
        assert isinstance(node, (ast.Import, ast.ImportFrom, ast.Assign, ast.Expr)), ast.dump(node)
        if isinstance(node, ast.Assign):
            assert isinstance(node.value, ast.Call)
    constants = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)}
    assert HOSTILE in constants
    assert 'data/orders\'"""\\.parquet' in constants
    ruff = require_tool("ruff", "pip install ruff")
    formatted = subprocess.run(
        [ruff, "format", "--isolated", "--check", "-"], input=source, capture_output=True, text=True
    )
    assert formatted.returncode == 0, formatted.stdout + formatted.stderr


@pytest.mark.parametrize(
    "value",
    [
        "",
        "plain",
        'a"b',
        "a'b",
        "'\"'",
        '"""',
        "'''",
        "\\",
        "a\\",
        "\n\r\t",
        "\x00\x1f\x7f",
        "\u2028é😀",
        "\\N{BULLET}",
    ],
)
def test_py_str_round_trips(value: str) -> None:
    assert ast.literal_eval(py_str(value)) == value
    docstring = py_docstring(value)
    assert ast.literal_eval(docstring) == value
    tree = ast.parse(docstring)
    assert len(tree.body) == 1 and isinstance(tree.body[0], ast.Expr)


def test_docstring_is_triple_quoted_only_when_nothing_needs_escaping() -> None:
    assert py_docstring("Feast feature repository of shop.") == (
        '"""Feast feature repository of shop."""'
    )
    assert py_docstring('a "quoted" name') == "'a \"quoted\" name'"


@pytest.mark.parametrize("name", ['a"b', "a\nb", "__import__('os')", "a b"])
def test_names_that_would_be_code_are_refused(tmp_path: Path, name: str) -> None:
    """Names become Python identifiers and keyword values: the schema admits identifiers only."""
    spec = mini_spec(tmp_path)
    text = spec.read_text().replace("name: customer_flags", "name: " + _yaml_str(name))
    spec.write_text(text)
    result = run_mlopsc("validate", str(spec), "--format", "json")
    assert result.returncode == 1, result.stdout
    line = next(i for i, x in enumerate(text.splitlines(), 1) if "- name: " + _yaml_str(name) in x)
    found = [d for d in json.loads(result.stdout) if d["line"] == line]
    assert found and all(d["code"].startswith("MLC2") for d in found), result.stdout


def test_timedelta_picks_whole_units() -> None:
    assert timedelta_of(5400).code == "timedelta(minutes=90)"
    assert timedelta_of(14 * 86400).code == "timedelta(weeks=2)"
    assert timedelta_of(36 * 3600).code == "timedelta(hours=36)"
    assert timedelta_of(0.25).code == "timedelta(milliseconds=250)"
    assert timedelta_of(61).code == "timedelta(seconds=61)"


def test_removed_view_is_a_deletion_in_feast_plan(tmp_path: Path) -> None:
    """Plain `feast plan` (source validation on) accepts a file-only repo; a dropped view shows."""
    first = mini_spec(tmp_path / "v1")
    assert (
        run_mlopsc("build", str(first), "-o", str(tmp_path / "out1"), "--only", "feast").returncode
        == 0
    )
    repo = copy_repo(tmp_path / "out1", tmp_path / "repo")
    planned = finish(feast_cmd(repo, "plan"))
    assert "Created feature view customer_flags\n" in planned
    assert "Created feature service recommender\n" in planned
    finish(feast_cmd(repo, "apply"))
    second = mini_spec(tmp_path / "v2", flags=False)
    assert (
        run_mlopsc("build", str(second), "-o", str(tmp_path / "out2"), "--only", "feast").returncode
        == 0
    )
    for name in ("features.py", "feature_store.yaml"):
        shutil.copy(tmp_path / "out2" / "feast" / name, repo / name)
    replanned = finish(feast_cmd(repo, "plan"))
    assert "Deleted feature view customer_flags\n" in replanned
    assert "Updated feature service recommender\n" in replanned


@pytest.mark.parametrize(
    ("extra", "line", "needle"),
    [
        (
            "feature_store:\n  offline_store: {type: bigquery}\n",
            13,
            "no offline store reads file source 'orders' (offline stores: bigquery)",
        ),
        (
            "feature_store:\n  batch_sources: {orders: orders}\n",
            None,
            "batch_sources key 'orders' is not a kafka source",
        ),
        (
            "feature_store:\n  online_store: {type: postgres}\n",
            None,
            "a postgres online store needs 'host' and 'database'",
        ),
        ("feature_store:\n  online_store: {type: cassandra}\n", None, "cassandra"),
    ],
)
def test_unsupported_feature_store_is_a_located_error(
    tmp_path: Path, extra: str, line: int | None, needle: str
) -> None:
    import json

    spec = mini_spec(tmp_path, extra=extra)
    result = run_mlopsc("validate", str(spec), "--format", "json")
    assert result.returncode == 1, result.stdout
    found = [d for d in json.loads(result.stdout) if needle in d["message"]]
    assert found, result.stdout
    assert all(d["line"] > 0 and d["file"].endswith("mlops.yaml") for d in found)
    if line is not None:
        assert found[0]["line"] == line and found[0]["code"] == "MLC329"
