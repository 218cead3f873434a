"""schemas/mlops-v1.schema.json: in sync with the models, a valid schema, accepts the examples."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from helpers import ROOT

from compiler.spec.schema import SCHEMA_FILE, json_schema, schema_text
from tests.conftest import require_tool

SCHEMA = ROOT / SCHEMA_FILE
EXAMPLES = sorted((ROOT / "examples").glob("*/mlops.yaml"))  # included files are not whole specs


def checker() -> str:
    return require_tool("check-jsonschema", "pip install check-jsonschema")


def test_committed_schema_is_generated() -> None:
    assert SCHEMA.read_text(encoding="utf-8") == schema_text(), (
        "run: python3 -m compiler schema > schemas/mlops-v1.schema.json"
    )


def test_schema_is_valid_against_its_metaschema() -> None:
    result = subprocess.run(
        [checker(), "--check-metaschema", str(SCHEMA)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.parent.name for e in EXAMPLES])
def test_example_validates_against_the_schema(example: Path) -> None:
    result = subprocess.run(
        [checker(), "--schemafile", str(SCHEMA), str(example)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _properties(node: Any, path: str = "$") -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        for name, prop in (node.get("properties") or {}).items():
            found.append((f"{path}.{name}", prop))
        for key, value in node.items():
            found.extend(_properties(value, f"{path}/{key}"))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found.extend(_properties(value, f"{path}[{i}]"))
    return found


def test_every_property_has_a_description() -> None:
    props = _properties(json_schema())
    assert len(props) > 100
    missing = [path for path, prop in props if not prop.get("description")]
    assert missing == []


def test_unknown_keys_are_refused_by_the_schema() -> None:
    schema = json.loads(SCHEMA.read_text())
    assert schema["additionalProperties"] is False
    assert all(
        d.get("additionalProperties") is False
        for d in schema["$defs"].values()
        if d.get("type") == "object" and "properties" in d
    )
