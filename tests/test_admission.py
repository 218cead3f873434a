"""Admission policies: valid Kubernetes objects whose CEL compiles and judges objects right."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import EXAMPLES, example_ids, require_tool

from compiler.targets.admission import all_expressions, registry_prefixes


def _env() -> Any:
    from cel_expr_python import cel
    from cel_expr_python.ext import ext_optional, ext_strings

    names = ("object", "oldObject", "request", "params", "variables", "namespaceObject")
    return cel.NewEnv(
        variables={n: cel.Type.DYN for n in names},
        extensions=[ext_strings.ExtStrings(), ext_optional.ExtOptional()],
    )


def _policies(out: Path) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted(out.glob("kubernetes/*/admission-policy.yaml")):
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return docs


def _evaluate(policy: dict[str, Any], obj: dict[str, Any]) -> dict[str, bool]:
    """Message → result of each validation on obj (None when a match condition skips it)."""
    env = _env()
    spec = policy["spec"]
    for cond in spec.get("matchConditions", []):
        if not env.compile(cond["expression"]).eval(data={"object": obj}).plain_value():
            return {}
    variables: dict[str, Any] = {}
    for var in spec.get("variables", []):
        value = env.compile(var["expression"]).eval(data={"object": obj, "variables": variables})
        variables[var["name"]] = value.plain_value()
    results = {}
    for check in spec["validations"]:
        value = env.compile(check["expression"]).eval(data={"object": obj, "variables": variables})
        plain = value.plain_value()
        assert isinstance(plain, bool), (check["expression"], value)
        results[check["message"]] = plain
    return results


@pytest.mark.parametrize("example", example_ids())
def test_policies_per_environment(built_examples: dict[str, Path], example: str) -> None:
    out = built_examples[example]
    spec = yaml.safe_load(
        (next(e for e in EXAMPLES if e.name == example) / "mlops.yaml").read_text()
    )
    for env in spec["environments"]:
        docs = yaml.safe_load_all(
            (out / "kubernetes" / env["name"] / "admission-policy.yaml").read_text()
        )
        objs = [d for d in docs if d]
        kinds = sorted(o["kind"] for o in objs)
        assert kinds.count("ValidatingAdmissionPolicy") == 3
        assert kinds.count("ValidatingAdmissionPolicyBinding") == 3
        kustomization = yaml.safe_load(
            (out / "kubernetes" / env["name"] / "kustomization.yaml").read_text()
        )
        assert "admission-policy.yaml" in kustomization["resources"]
        approval = env.get("approval", {}).get("required", False)
        for b in (o for o in objs if o["kind"] == "ValidatingAdmissionPolicyBinding"):
            assert b["spec"]["validationActions"] == (["Deny"] if approval else ["Warn", "Audit"])
            selector = b["spec"]["matchResources"]["namespaceSelector"]["matchLabels"]
            assert selector == {"kubernetes.io/metadata.name": env["namespace"]}
            assert any(p["metadata"]["name"] == b["spec"]["policyName"] for p in objs)


@pytest.mark.parametrize("example", example_ids())
def test_every_cel_expression_compiles(built_examples: dict[str, Path], example: str) -> None:
    from cel_expr_python import cel

    env = _env()
    expressions = all_expressions(_policies(built_examples[example]))
    assert expressions
    for expression in expressions:
        program = env.compile(expression)  # raises RuntimeError with <input>:L:C: on errors
        assert program.return_type() in (cel.Type.BOOL, cel.Type.DYN, cel.Type.LIST)


def test_cel_compile_errors_are_reported() -> None:
    with pytest.raises(RuntimeError, match=r"<input>:1:"):
        _env().compile("object.(")


@pytest.mark.parametrize("example", example_ids())
def test_generated_workloads_pass_their_policies(
    built_examples: dict[str, Path], example: str
) -> None:
    out = built_examples[example]
    policies = [p for p in _policies(out) if p["kind"] == "ValidatingAdmissionPolicy"]
    matched = 0
    for path in sorted(out.glob("kubernetes/*/model-*.yaml")):
        for obj in yaml.safe_load_all(path.read_text()):
            if not obj or obj["kind"] not in (
                "Deployment",
                "CronJob",
                "InferenceService",
                "Job",
                "Pod",
            ):
                continue
            for policy in policies:
                results = _evaluate(policy, obj)
                matched += bool(results)
                failed = [m for m, ok in results.items() if not ok]
                assert not failed, f"{path.name} {obj['kind']}/{obj['metadata']['name']}: {failed}"
    assert matched


def test_hostile_pod_is_refused(built_examples: dict[str, Path]) -> None:
    policies = {
        p["metadata"]["name"].rsplit("-", 1)[-1]: p
        for p in _policies(built_examples["payments-ml"])
        if p["kind"] == "ValidatingAdmissionPolicy" and "-production-" in p["metadata"]["name"]
    }
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "x", "labels": {"mlopsc/model": "fraud-detector"}},
        "spec": {
            "securityContext": {"runAsUser": 0},
            "containers": [
                {
                    "name": "c",
                    "image": "evil.example/miner:latest",
                    "securityContext": {"privileged": True, "allowPrivilegeEscalation": True},
                }
            ],
        },
    }
    assert not all(_evaluate(policies["labels"], pod).values())
    images = _evaluate(policies["images"], pod)
    assert images and not any(images.values())
    security = _evaluate(policies["security"], pod)
    assert security and not any(security.values())
    owned = {**pod, "metadata": {**pod["metadata"], "ownerReferences": [{"kind": "ReplicaSet"}]}}
    assert _evaluate(policies["images"], owned) == {}


def test_registry_prefixes() -> None:
    assert registry_prefixes(["ghcr.io/a/b@sha256:1", "localhost:5000/x@sha256:1"]) == [
        "ghcr.io/",
        "localhost:5000/",
    ]
    assert registry_prefixes(["acme/tool@sha256:1"]) == ["acme/", "docker.io/"]
    assert registry_prefixes(["python@sha256:1"]) == ["docker.io/", "python@"]


@pytest.mark.parametrize("example", example_ids())
def test_kubernetes_validate_accepts_policies(
    built_examples: dict[str, Path], example: str
) -> None:
    tool = require_tool("kubernetes-validate", "pip install kubernetes-validate")
    files = sorted(
        str(p) for p in built_examples[example].glob("kubernetes/*/admission-policy.yaml")
    )
    done = subprocess.run(
        [tool, "-k", "1.33.0", "--strict", *files], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "passed for resource validatingadmissionpolicy/" in done.stdout + done.stderr
