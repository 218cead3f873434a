"""The JSON Schema of spec v1, generated from the pydantic models."""

from __future__ import annotations

import json
from typing import Any

from compiler.spec.models import Project

SCHEMA_FILE = "schemas/mlops-v1.schema.json"
SCHEMA_ID = "https://raw.githubusercontent.com/mlopsc/mlopsc/main/schemas/mlops-v1.schema.json"


def _tidy(node: Any) -> Any:
    """Drop pydantic's titles (noise in editors) but keep every description."""
    if isinstance(node, dict):
        return {
            k: _tidy(v)
            for k, v in node.items()
            if not (k == "title" and isinstance(v, str) and "description" in node)
        }
    if isinstance(node, list):
        return [_tidy(v) for v in node]
    return node


def json_schema() -> dict[str, Any]:
    """The schema as data."""
    body = Project.model_json_schema(by_alias=True, mode="validation")
    body = _tidy(body)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "mlopsc spec v1 (mlops.yaml)",
        "description": "An mlopsc project: one ML product's models, data, SLOs and governance.",
        **{k: v for k, v in body.items() if k not in ("title", "description", "$id")},
    }


def schema_text() -> str:
    """The schema file's exact bytes."""
    return json.dumps(json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
