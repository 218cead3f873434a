"""The CR validator of the test suite refuses what the API server would refuse or drop."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.crd_validate import CRDS, main, structural_errors, translate, validate, validate_paths

ISVC: dict[str, Any] = {
    "apiVersion": "serving.kserve.io/v1beta1",
    "kind": "InferenceService",
    "metadata": {"name": "fraud", "namespace": "ml-prod", "labels": {"mlopsc/model": "fraud"}},
    "spec": {
        "predictor": {
            "minReplicas": 1,
            "model": {
                "modelFormat": {"name": "xgboost"},
                "storageUri": "s3://bucket/model/",
                "resources": {"limits": {"cpu": "1", "memory": "2Gi"}, "requests": {"cpu": 1}},
                "env": [{"name": "A", "value": "1"}],
            },
        }
    },
}


def _isvc(**changes: Any) -> dict[str, Any]:
    """The valid InferenceService with dotted-path changes (value None removes the key)."""
    doc = copy.deepcopy(ISVC)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = doc
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
        if value is None:
            del node[last]
        else:
            node[last] = value
    return doc


def test_every_vendored_schema_is_documented_and_loads() -> None:
    readme = (CRDS / "README.md").read_text()
    files = sorted(p.name for p in CRDS.glob("*.json"))
    assert len(files) == 6
    for name in files:
        assert f"`{name}`" in readme
        schema = json.loads((CRDS / name).read_text())
        assert schema["type"] == "object" and "spec" in schema["properties"]


def test_a_valid_custom_resource_passes() -> None:
    assert validate(ISVC) == []


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"spec__predictor__replicas": 3}, ".spec.predictor.replicas: unknown field"),
        ({"spec__bogus": {}}, ".spec.bogus: unknown field"),
        ({"extra": 1}, ".extra: unknown field"),
        ({"spec__predictor__minReplicas": "two"}, "'two' is not of type 'integer'"),
        ({"spec__predictor__model__resources__limits__cpu": [1]}, "is not of type 'integer'"),
        ({"spec__predictor__model__resources__limits__cpu": "1 core"}, "does not match"),
        ({"spec__predictor__model__env": [{"name": "A"}, {"name": "A"}]}, "repeats"),
        ({"spec__canary": [{"predictor": {}}]}, "'trafficPercent' is a required property"),
        ({"spec__predictor__minReplicas": None, "spec__predictor__model": None}, None),
        ({"metadata__name": "Fraud_1"}, ".metadata.name: 'Fraud_1' is not a DNS-1123 subdomain"),
        ({"metadata__name": None}, ".metadata.name: required"),
        ({"metadata__namespace": "a.b"}, "is not a DNS-1123 label"),
        ({"metadata__labels": {"a/b/c": "x"}}, "invalid label key"),
        ({"metadata__labels": {"k": "x" * 64}}, "invalid label value"),
        ({"metadata__labels": {"k": 1}}, "invalid label value"),
        ({"metadata__annotations": {"k": 1}}, ".metadata.annotations: not a map of strings"),
        ({"metadata__owner": "me"}, ".metadata.owner: unknown field"),
    ],
)
def test_errors_are_found_and_located(changes: dict[str, Any], error: str | None) -> None:
    errors = validate(_isvc(**changes))
    if error is None:
        assert errors == []
    else:
        assert any(error in e for e in errors), errors


def test_int_or_string_accepts_both_and_nothing_else() -> None:
    assert validate(_isvc(spec__predictor__model__resources__limits__cpu=2)) == []
    assert validate(_isvc(spec__predictor__model__resources__limits__cpu="500m")) == []
    assert validate(_isvc(spec__predictor__model__resources__limits__cpu=True)) != []


def test_list_map_keys_use_their_defaults() -> None:
    ports = [{"containerPort": 8080}, {"containerPort": 8080, "protocol": "TCP"}]
    errors = validate(_isvc(spec__predictor__model__ports=ports))
    assert any("[1]: repeats" in e for e in errors), errors
    ports[1]["protocol"] = "UDP"
    assert validate(_isvc(spec__predictor__model__ports=ports)) == []


def test_preserved_unknown_fields_are_kept() -> None:
    app = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "a", "namespace": "argocd"},
        "spec": {
            "project": "default",
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "x"},
            "source": {"repoURL": "https://git", "helm": {"valuesObject": {"any": {"x": [1]}}}},
        },
    }
    assert validate(app) == []
    app["spec"]["source"]["helm"]["notAField"] = 1
    assert validate(app) == [".spec.source.helm.notAField: unknown field (the API server drops it)"]


def test_nullable_and_int_or_string_translate() -> None:
    node = {"type": "string", "nullable": True, "description": "x", "format": "byte"}
    assert translate(node) == {"anyOf": [{"type": "null"}, {"type": "string"}]}
    assert translate({"x-kubernetes-int-or-string": True}) == {"type": ["integer", "string"]}


def test_cel_rules_are_skipped_only_on_update() -> None:
    node = {"type": "object", "x-kubernetes-validations": [{"rule": "self == oldSelf"}]}
    assert list(structural_errors({}, node, ".spec")) == []
    node["x-kubernetes-validations"] = [{"rule": "self.a > 0"}]
    assert list(structural_errors({}, node, ".spec")) == [
        ".spec: x-kubernetes-validations rule 'self.a > 0' not evaluated"
    ]


def test_unknown_kinds_are_refused_or_skipped(tmp_path: Path) -> None:
    with pytest.raises(KeyError, match="no CRD schema"):
        validate({"apiVersion": "example.com/v1", "kind": "Widget"})
    path = tmp_path / "x.yaml"
    path.write_text(yaml.safe_dump_all([ISVC, {"apiVersion": "v1", "kind": "ConfigMap"}, None]))
    report = validate_paths([tmp_path])
    assert (report.checked, report.skipped, report.errors) == (1, 1, [])
    bad = _isvc(spec__predictor__replicas=1)
    path.write_text(yaml.safe_dump(bad))
    report = validate_paths([path])
    assert report.errors == [
        f"{path}: InferenceService/fraud: .spec.predictor.replicas: unknown field"
        " (the API server drops it)"
    ]
    assert main([str(path)]) == 1
    (tmp_path / "empty").mkdir()
    assert main([str(tmp_path / "empty")]) == 1
