"""Admission policies: valid Kubernetes objects whose CEL compiles and judges objects right.

The policies' CEL runs in cel-expr-python the way the API server runs it: match conditions
first, then the variables in order, then each validation. A table of bypass attempts (every
way found to slip an object past the checks) must be denied; the generated workloads must pass.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import EXAMPLES, example_ids, require_tool, run_mlopsc

from compiler.targets.admission import (
    CONTROLLERS,
    KSERVE_CONTAINERS,
    all_expressions,
    image_repositories,
    repository_pattern,
)
from tests.crd_validate import CRDS, validate

Obj = dict[str, Any]
ALICE = "alice@example.com"
RS_CONTROLLER = "system:serviceaccount:kube-system:replicaset-controller"
KSERVE = "system:serviceaccount:kserve:kserve-controller-manager"
EVIL = "evil.example/miner:latest"
PINNED_EVIL = "evil.example/miner@sha256:" + "a" * 64


def _env() -> Any:
    from cel_expr_python import cel
    from cel_expr_python.ext import ext_optional, ext_strings

    names = ("object", "oldObject", "request", "params", "variables", "namespaceObject")
    return cel.NewEnv(
        variables={n: cel.Type.DYN for n in names},
        extensions=[ext_strings.ExtStrings(), ext_optional.ExtOptional()],
    )


ENV = _env()


def _policies(out: Path) -> list[Obj]:
    docs: list[Obj] = []
    for path in sorted(out.glob("kubernetes/*/admission-policy.yaml")):
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return docs


def _value(expression: str, data: dict[str, Any]) -> Any:
    return ENV.compile(expression).eval(data=data).plain_value()


def _evaluate(
    policy: Obj, obj: Obj, user: str = ALICE, operation: str = "CREATE"
) -> dict[str, bool] | None:
    """Message → result of each validation on obj; None when a match condition skips it."""
    request = {"operation": operation, "userInfo": {"username": user, "groups": []}}
    data: dict[str, Any] = {"object": obj, "request": request}
    spec = policy["spec"]
    for cond in spec.get("matchConditions", []):
        if not _value(cond["expression"], data):
            return None
    variables: dict[str, Any] = {}
    for var in spec.get("variables", []):
        variables[var["name"]] = _value(var["expression"], {**data, "variables": variables})
    results = {}
    for check in spec["validations"]:
        plain = _value(check["expression"], {**data, "variables": variables})
        assert isinstance(plain, bool), (check["expression"], plain)
        results[check["message"]] = plain
    return results


@pytest.fixture(scope="module")
def prod(built_examples: dict[str, Path]) -> dict[str, Obj]:
    """payments-ml's production policies (they Deny), by suffix: labels, images, security."""
    return {
        p["metadata"]["name"].rsplit("-", 1)[-1]: p
        for p in _policies(built_examples["payments-ml"])
        if p["kind"] == "ValidatingAdmissionPolicy" and "-production-" in p["metadata"]["name"]
    }


def _generated(out: Path, kind: str, name_part: str = "") -> Obj:
    for path in sorted(out.glob("kubernetes/production/model-*.yaml")):
        for obj in yaml.safe_load_all(path.read_text()):
            if obj and obj["kind"] == kind and name_part in obj["metadata"]["name"]:
                return obj  # type: ignore[no-any-return]
    raise AssertionError(f"no {kind} {name_part}")


@pytest.fixture(scope="module")
def bases(built_examples: dict[str, Path]) -> dict[str, Obj]:
    """Objects that pass every policy: payments-ml's InferenceService with a canary, and one of
    every other workload kind, made from the drift CronJob's pod template."""
    out = built_examples["payments-ml"]
    isvc = _generated(out, "InferenceService", "fraud-detector")
    assert isvc["spec"].get("canary"), "the base InferenceService needs a canary"
    cron = _generated(out, "CronJob", "fraud-detector-drift")
    template = cron["spec"]["jobTemplate"]["spec"]["template"]
    meta = cron["metadata"]
    selector = {"matchLabels": {"app.kubernetes.io/instance": "x"}}
    made: dict[str, Obj] = {"InferenceService": isvc, "CronJob": cron}
    made["Pod"] = {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": template["spec"]}
    for api, kind in (
        ("apps/v1", "Deployment"),
        ("apps/v1", "ReplicaSet"),
        ("apps/v1", "StatefulSet"),
        ("apps/v1", "DaemonSet"),
        ("v1", "ReplicationController"),
        ("argoproj.io/v1alpha1", "Rollout"),
    ):
        made[kind] = {
            "apiVersion": api,
            "kind": kind,
            "metadata": meta,
            "spec": {"selector": selector, "template": template},
        }
    made["Job"] = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta,
        "spec": {"template": template},
    }
    runtime_spec = {k: v for k, v in template["spec"].items() if k in ("containers", "volumes")}
    made["ServingRuntime"] = {
        "apiVersion": "serving.kserve.io/v1alpha1",
        "kind": "ServingRuntime",
        "metadata": {"name": "rt", "namespace": meta["namespace"]},
        "spec": {"supportedModelFormats": [{"name": "xgboost"}], **runtime_spec},
    }
    return copy.deepcopy(made)


def _pod_specs(obj: Obj) -> list[Obj]:
    """The pod spec(s) of a base object (for the bypass table to change)."""
    kind = obj["kind"]
    if kind in ("Pod", "ServingRuntime"):
        return [obj["spec"]]
    if kind == "CronJob":
        return [obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]]
    if kind == "InferenceService":
        return [obj["spec"]["predictor"]]
    return [obj["spec"]["template"]["spec"]]


def _denied_by(results: dict[str, bool] | None) -> list[str]:
    assert results is not None, "skipped by a match condition"
    return [m for m, ok in results.items() if not ok]


# ---------------------------------------------------------------------------------------------
# the generated policies


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


def test_every_kind_that_runs_pods_is_matched(prod: dict[str, Obj]) -> None:
    workloads = {
        ("", "pods"),
        ("", "pods/ephemeralcontainers"),
        ("", "replicationcontrollers"),
        ("apps", "deployments"),
        ("apps", "replicasets"),
        ("apps", "statefulsets"),
        ("apps", "daemonsets"),
        ("batch", "jobs"),
        ("batch", "cronjobs"),
        ("serving.kserve.io", "inferenceservices"),
        ("argoproj.io", "rollouts"),
    }
    for suffix, policy in prod.items():
        matched = {
            (group, resource)
            for rule in policy["spec"]["matchConstraints"]["resourceRules"]
            for group in rule["apiGroups"]
            for resource in rule["resources"]
            if rule["operations"] == ["CREATE", "UPDATE"]
        }
        runtimes = {("serving.kserve.io", "servingruntimes")} if suffix != "labels" else set()
        assert matched == workloads | runtimes, suffix


@pytest.mark.parametrize("example", example_ids())
def test_every_cel_expression_compiles(built_examples: dict[str, Path], example: str) -> None:
    """Conditions and validations are booleans; variables anything (lists of pod specs...)."""
    from cel_expr_python import cel

    policies = [p for p in _policies(built_examples[example]) if "validations" in p["spec"]]
    assert all_expressions(policies)
    for policy in policies:
        spec = policy["spec"]
        for item in spec["matchConditions"] + spec["validations"]:
            program = ENV.compile(item["expression"])  # RuntimeError <input>:L:C: on errors
            assert program.return_type() in (cel.Type.BOOL, cel.Type.DYN), item
        for item in spec["variables"]:
            ENV.compile(item["expression"])


def test_cel_compile_errors_are_reported() -> None:
    with pytest.raises(RuntimeError, match=r"<input>:1:"):
        ENV.compile("object.(")


@pytest.mark.parametrize("example", example_ids())
def test_generated_workloads_pass_their_policies(
    built_examples: dict[str, Path], example: str
) -> None:
    """What mlopsc generates passes its own policies, in every environment, as Argo CD applies it."""
    out = built_examples[example]
    matched = 0
    for env_folder in sorted((out / "kubernetes").iterdir()):
        policies = [
            p
            for p in _policies(out)
            if p["kind"] == "ValidatingAdmissionPolicy"
            and p["metadata"]["labels"]["mlopsc/environment"] == env_folder.name
        ]
        assert len(policies) == 3
        for path in sorted(env_folder.glob("*.yaml")):
            for obj in yaml.safe_load_all(path.read_text()):
                if not obj or obj["kind"] not in (
                    "Deployment",
                    "CronJob",
                    "InferenceService",
                    "Job",
                    "Pod",
                    "Rollout",
                ):
                    continue
                for policy in policies:
                    results = _evaluate(policy, obj, user="system:serviceaccount:argocd:argocd")
                    assert results is not None
                    matched += 1
                    failed = [m for m, ok in results.items() if not ok]
                    assert not failed, f"{path} {obj['kind']}/{obj['metadata']['name']}: {failed}"
    assert matched


@pytest.mark.parametrize(
    "kind",
    [
        "Pod",
        "Deployment",
        "ReplicaSet",
        "StatefulSet",
        "DaemonSet",
        "ReplicationController",
        "Rollout",
        "Job",
        "CronJob",
        "InferenceService",
        "ServingRuntime",
    ],
)
def test_every_kind_passes_when_good_and_is_denied_when_not(
    prod: dict[str, Obj], bases: dict[str, Obj], kind: str
) -> None:
    good = bases[kind]
    policies = ["images", "security"] + ([] if kind == "ServingRuntime" else ["labels"])
    for suffix in policies:
        assert _denied_by(_evaluate(prod[suffix], good)) == [], (kind, suffix)
    bad = copy.deepcopy(good)
    for spec in _pod_specs(bad):
        spec["securityContext"] = {"runAsUser": 0}
        spec.setdefault("containers", []).append(
            {"name": "x", "image": EVIL, "securityContext": {"privileged": True}}
        )
    bad["metadata"] = {**bad["metadata"], "labels": {"mlopsc/risk": "none"}}
    assert _denied_by(_evaluate(prod["images"], bad))
    assert len(_denied_by(_evaluate(prod["security"], bad))) >= 4
    if kind != "ServingRuntime":
        assert _denied_by(_evaluate(prod["labels"], bad))


# ---------------------------------------------------------------------------------------------
# the bypass table: (name, base kind, change, the policy that must deny, words of its message)

Change = Callable[[Obj], None]


def _container(obj: Obj) -> Obj:
    return _pod_specs(obj)[0]["containers"][0]  # type: ignore[no-any-return]


def _add(obj: Obj, where: str, container: Obj) -> None:
    _pod_specs(obj)[0].setdefault(where, []).append(container)


def _canary(obj: Obj) -> Obj:
    return obj["spec"]["canary"][0]["predictor"]  # type: ignore[no-any-return]


def _hardened(image: str = PINNED_EVIL) -> Obj:
    return {
        "name": "x",
        "image": image,
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "runAsNonRoot": True,
        },
    }


def _set(path: str, value: Any) -> Change:
    def change(obj: Obj) -> None:
        *parents, last = path.split(".")
        node = obj
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
        node[last] = value

    return change


def _each(*changes: Change) -> Change:
    def change(obj: Obj) -> None:
        for c in changes:
            c(obj)

    return change


BYPASSES: list[tuple[str, str, Change, str, str]] = [
    # images
    (
        "tag, not digest",
        "Pod",
        lambda o: _container(o).update(image="ghcr.io/acme/x:1"),
        "images",
        "pinned",
    ),
    (
        "other registry",
        "Pod",
        lambda o: _container(o).update(image=PINNED_EVIL),
        "images",
        "repositories",
    ),
    (
        "another repository on the spec's registry",
        "Pod",
        lambda o: _container(o).update(image="ghcr.io/attacker/x@sha256:" + "b" * 64),
        "images",
        "repositories",
    ),
    (
        "registry look-alike host",
        "Pod",
        lambda o: _container(o).update(image="ghcr.io.evil.example/x@sha256:" + "b" * 64),
        "images",
        "repositories",
    ),
    (
        "init container",
        "Pod",
        lambda o: _add(o, "initContainers", _hardened()),
        "images",
        "repositories",
    ),
    (
        "ephemeral container",
        "Pod",
        lambda o: _add(o, "ephemeralContainers", _hardened()),
        "images",
        "repositories",
    ),
    (
        "deployment template",
        "Deployment",
        lambda o: _add(o, "containers", _hardened(EVIL)),
        "images",
        "pinned",
    ),
    (
        "replica set",
        "ReplicaSet",
        lambda o: _add(o, "containers", _hardened(EVIL)),
        "images",
        "pinned",
    ),
    (
        "replication controller",
        "ReplicationController",
        lambda o: _add(o, "containers", _hardened(EVIL)),
        "images",
        "pinned",
    ),
    (
        "cron job template",
        "CronJob",
        lambda o: _add(o, "initContainers", _hardened(EVIL)),
        "images",
        "pinned",
    ),
    (
        "serving runtime",
        "ServingRuntime",
        lambda o: _container(o).update(image=EVIL),
        "images",
        "pinned",
    ),
    (
        "isvc transformer",
        "InferenceService",
        _set("spec.transformer", {"containers": [_hardened()]}),
        "images",
        "repositories",
    ),
    (
        "isvc explainer art",
        "InferenceService",
        _set("spec.explainer", {"art": {"type": "SquareAttack", "image": EVIL}}),
        "images",
        "pinned",
    ),
    (
        "isvc predictor containers",
        "InferenceService",
        _set("spec.predictor.containers", [_hardened()]),
        "images",
        "repositories",
    ),
    (
        "isvc predictor model image",
        "InferenceService",
        _set("spec.predictor.model.image", EVIL),
        "images",
        "pinned",
    ),
    (
        "isvc worker spec",
        "InferenceService",
        _set("spec.predictor.workerSpec", {"containers": [_hardened()]}),
        "images",
        "repositories",
    ),
    (
        "isvc canary containers",
        "InferenceService",
        lambda o: _canary(o).setdefault("containers", []).append(_hardened()),
        "images",
        "repositories",
    ),
    (
        "isvc canary framework",
        "InferenceService",
        lambda o: _canary(o).update(sklearn={"name": "kserve-container", "image": EVIL}),
        "images",
        "pinned",
    ),
    (
        "isvc canary worker",
        "InferenceService",
        lambda o: _canary(o).update(workerSpec={"initContainers": [_hardened(EVIL)]}),
        "images",
        "pinned",
    ),
    # pod security
    (
        "privileged init container",
        "Deployment",
        lambda o: _add(
            o,
            "initContainers",
            {
                **_hardened("ghcr.io/acme/x@sha256:" + "c" * 64),
                "securityContext": {**_hardened()["securityContext"], "privileged": True},
            },
        ),
        "security",
        "privileged",
    ),
    (
        "privilege escalation left to its default",
        "Pod",
        lambda o: _container(o)["securityContext"].pop("allowPrivilegeEscalation"),
        "security",
        "allowPrivilegeEscalation",
    ),
    (
        "root user in the pod",
        "Pod",
        _set("spec.securityContext.runAsUser", 0),
        "security",
        "UID 0",
    ),
    (
        "container overrides runAsNonRoot",
        "Job",
        lambda o: _container(o)["securityContext"].update(runAsNonRoot=False),
        "security",
        "non-root",
    ),
    (
        "no runAsNonRoot anywhere",
        "StatefulSet",
        lambda o: (
            _container(o)["securityContext"].pop("runAsNonRoot"),
            _pod_specs(o)[0]["securityContext"].pop("runAsNonRoot"),
        ),
        "security",
        "non-root",
    ),
    (
        "added capability",
        "DaemonSet",
        lambda o: _container(o)["securityContext"]["capabilities"].update(add=["SYS_ADMIN"]),
        "security",
        "capabilities",
    ),
    (
        "capabilities not dropped",
        "Pod",
        lambda o: _container(o)["securityContext"].pop("capabilities"),
        "security",
        "capabilities",
    ),
    (
        "seccomp unconfined",
        "Pod",
        lambda o: _container(o)["securityContext"].update(seccompProfile={"type": "Unconfined"}),
        "security",
        "seccomp",
    ),
    (
        "no seccomp profile",
        "Pod",
        lambda o: (
            _container(o)["securityContext"].pop("seccompProfile"),
            _pod_specs(o)[0]["securityContext"].pop("seccompProfile"),
        ),
        "security",
        "seccomp",
    ),
    ("host network", "Pod", _set("spec.hostNetwork", True), "security", "host network"),
    ("host PID", "Rollout", _set("spec.template.spec.hostPID", True), "security", "host network"),
    (
        "host IPC",
        "CronJob",
        _set("spec.jobTemplate.spec.template.spec.hostIPC", True),
        "security",
        "host network",
    ),
    (
        "host port",
        "Pod",
        lambda o: _container(o).update(ports=[{"containerPort": 80, "hostPort": 80}]),
        "security",
        "host ports",
    ),
    (
        "hostPath volume",
        "Pod",
        lambda o: o["spec"]["volumes"].append({"name": "root", "hostPath": {"path": "/"}}),
        "security",
        "volumes",
    ),
    (
        "isvc canary judged by its own pod context",
        "InferenceService",
        lambda o: _canary(o)["securityContext"].update(runAsUser=0),
        "security",
        "UID 0",
    ),
    (
        "isvc canary without non-root",
        "InferenceService",
        lambda o: (
            _canary(o).pop("securityContext"),
            _canary(o)["model"]["securityContext"].pop("runAsNonRoot"),
        ),
        "security",
        "non-root",
    ),
    (
        "isvc transformer privileged",
        "InferenceService",
        _set(
            "spec.transformer",
            {
                "containers": [
                    {
                        **_hardened("ghcr.io/a/b@sha256:" + "d" * 64),
                        "securityContext": {"privileged": True},
                    }
                ]
            },
        ),
        "security",
        "privileged",
    ),
    (
        "isvc worker host network",
        "InferenceService",
        _set("spec.predictor.workerSpec", {"hostNetwork": True}),
        "security",
        "host network",
    ),
    (
        "isvc explainer hostPath",
        "InferenceService",
        _set("spec.explainer", {"volumes": [{"name": "h", "hostPath": {"path": "/var/run"}}]}),
        "security",
        "volumes",
    ),
    (
        "image volume",
        "Pod",
        lambda o: o["spec"]["volumes"].append({"name": "i", "image": {"reference": EVIL}}),
        "security",
        "volumes",
    ),
    # labels
    (
        "no model label",
        "Pod",
        lambda o: o["metadata"]["labels"].pop("mlopsc/model"),
        "labels",
        "carry the labels",
    ),
    (
        "empty owner label",
        "CronJob",
        lambda o: o["metadata"]["labels"].update({"mlopsc/owner": ""}),
        "labels",
        "carry the labels",
    ),
    (
        "unknown risk",
        "InferenceService",
        lambda o: o["metadata"]["labels"].update({"mlopsc/risk": "none"}),
        "labels",
        "risk is one of",
    ),
    (
        "template without labels",
        "Deployment",
        lambda o: o["spec"]["template"]["metadata"].pop("labels"),
        "labels",
        "carry the labels",
    ),
    (
        "cron job pod template with a bad risk",
        "CronJob",
        lambda o: o["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"].update(
            {"mlopsc/risk": "x"}
        ),
        "labels",
        "risk is one of",
    ),
]


@pytest.mark.parametrize(
    ("kind", "change", "policy", "words"),
    [pytest.param(k, c, p, w, id=name) for name, k, c, p, w in BYPASSES],
)
def test_bypass_attempts_are_denied(
    prod: dict[str, Obj], bases: dict[str, Obj], kind: str, change: Change, policy: str, words: str
) -> None:
    obj = copy.deepcopy(bases[kind])
    obj["metadata"] = copy.deepcopy(obj["metadata"])
    change(obj)
    denied = _denied_by(_evaluate(prod[policy], obj))
    assert any(words in m for m in denied), denied
    if kind == "InferenceService":  # a real object: the API server would accept it as written
        assert validate(obj) == []


def _owned(obj: Obj, api: str, kind: str, controller: bool = True) -> Obj:
    ref = {"apiVersion": api, "kind": kind, "name": "o", "uid": "1", "controller": controller}
    return {**obj, "metadata": {**obj["metadata"], "ownerReferences": [ref]}}


def _hostile_pod(bases: dict[str, Obj]) -> Obj:
    pod = copy.deepcopy(bases["Pod"])
    pod["spec"]["containers"][0]["image"] = EVIL
    return pod


@pytest.mark.parametrize(
    ("api", "kind", "controller", "user"),
    [
        pytest.param("apps/v1", "ReplicaSet", True, ALICE, id="forged owner, made by a user"),
        pytest.param(
            "apps/v1", "ReplicaSet", False, RS_CONTROLLER, id="owner that is not the controller"
        ),
        pytest.param(
            "apps/v1", "Deployment", True, RS_CONTROLLER, id="owner kind that never makes pods"
        ),
        pytest.param("apps/v1", "ReplicaSet", True, KSERVE, id="identity of another controller"),
        pytest.param("v1", "ReplicaSet", True, RS_CONTROLLER, id="owner in the wrong API group"),
        pytest.param(
            "apps/v1",
            "ReplicaSet",
            True,
            "system:serviceaccount:payments-ml-prod:replicaset-controller",
            id="look-alike service account in the namespace",
        ),
    ],
)
def test_owner_references_do_not_exempt(
    prod: dict[str, Obj], bases: dict[str, Obj], api: str, kind: str, controller: bool, user: str
) -> None:
    pod = _owned(_hostile_pod(bases), api, kind, controller)
    assert _denied_by(_evaluate(prod["images"], pod, user=user))


def test_objects_made_by_their_controller_are_exempt(
    prod: dict[str, Obj], bases: dict[str, Obj]
) -> None:
    """The one exemption: a known controller making an object from one the policies judged."""
    pod = _owned(_hostile_pod(bases), "apps/v1", "ReplicaSet")
    for suffix in ("labels", "images", "security"):
        assert _evaluate(prod[suffix], pod, user=RS_CONTROLLER) is None
        assert _evaluate(prod[suffix], pod, user="system:kube-controller-manager") is None
    deployment = copy.deepcopy(bases["Deployment"])
    deployment["spec"]["template"]["spec"]["containers"][0]["image"] = "kserve/sklearnserver:v0.15"
    made = _owned(deployment, "serving.kserve.io/v1beta1", "InferenceService")
    assert _evaluate(prod["images"], made, user=KSERVE) is None
    assert _denied_by(_evaluate(prod["images"], made, user=ALICE))
    # the same pod, changed later by a user (a new image, an ephemeral debug container)
    assert _denied_by(_evaluate(prod["images"], pod, user=ALICE, operation="UPDATE"))


def test_every_exemption_names_a_controller_identity() -> None:
    """Built-in controllers act as kube-system service accounts (or the controller manager);
    no exemption trusts an identity a namespace's users could mint."""
    for made, api, owner, users in CONTROLLERS:
        assert made and owner and users
        builtin = api in ("v1", "apps/v1", "batch/v1")
        for user in users:
            namespace = user.split(":")[2] if user.startswith("system:serviceaccount:") else ""
            assert user == "system:kube-controller-manager" or namespace, user
            if builtin:
                assert user == "system:kube-controller-manager" or namespace == "kube-system"
            else:
                assert namespace in ("kserve", "kubeflow", "argo-rollouts"), user


def test_every_kserve_container_section_is_checked() -> None:
    """The container-like keys of every InferenceService component in the vendored KServe CRD
    are the ones the policies read (a new framework key in a newer CRD fails here)."""
    schema = json.loads((CRDS / "serving.kserve.io_inferenceservice_v1beta1.json").read_text())
    spec = schema["properties"]["spec"]["properties"]
    assert set(spec) == {"predictor", "transformer", "explainer", "canary"}
    components = [
        spec["predictor"],
        spec["transformer"],
        spec["explainer"],
        spec["canary"]["items"]["properties"]["predictor"],
    ]
    found = set()
    for component in components:
        for key, node in component["properties"].items():
            props = node.get("properties", {})
            if "image" in props and "securityContext" in props:
                found.add(key)
            elif key == "workerSpec":
                assert {"containers", "initContainers", "securityContext"} <= set(props)
            else:
                items = node.get("items", {}).get("properties", {})
                if "image" in items and "securityContext" in items:
                    assert key in ("containers", "initContainers", "ephemeralContainers"), key
    assert found == set(KSERVE_CONTAINERS)


def test_a_digest_waiver_accepts_only_that_models_spec_images(tmp_path: Path) -> None:
    example = tmp_path / "payments-ml"
    shutil.copytree(next(e for e in EXAMPLES if e.name == "payments-ml"), example)
    unpinned = "ghcr.io/acme/fraud-train:3.2"
    spec = (example / "mlops.yaml").read_text()
    spec = spec.replace("ghcr.io/acme/fraud-train@sha256:" + "1" * 64, unpinned).replace(
        "  waivers:\n",
        "  waivers:\n    - rule: BASE-002\n      target: fraud-detector\n"
        "      reason: The registry cannot sign yet\n      approved_by: ml-governance\n"
        "      expires: 2027-12-31\n",
        1,
    )
    assert unpinned in spec and "rule: BASE-002" in spec
    (example / "mlops.yaml").write_text(spec)
    done = run_mlopsc("build", str(example / "mlops.yaml"), "-o", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    images = next(
        p
        for p in _policies(tmp_path / "out")
        if p["metadata"]["name"].endswith("-production-images")
    )
    pod: Obj = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "labels": {"mlopsc/model": "fraud-detector"}},
        "spec": {"containers": [{"name": "c", "image": unpinned}]},
    }
    pinned_message = next(m for m in _evaluate(images, pod) or {} if "pinned" in m)
    assert (_evaluate(images, pod) or {})[pinned_message] is True
    other = copy.deepcopy(pod)
    other["spec"]["containers"][0]["image"] = "ghcr.io/acme/anything:latest"
    assert (_evaluate(images, other) or {})[pinned_message] is False
    churn = copy.deepcopy(pod)
    churn["metadata"]["labels"]["mlopsc/model"] = "churn-model"
    assert (_evaluate(images, churn) or {})[pinned_message] is False


def test_image_repositories_in_every_spelling() -> None:
    assert image_repositories(["ghcr.io/a/b@sha256:1", "localhost:5000/x:1@sha256:1"]) == [
        "ghcr.io/a/b",
        "localhost:5000/x",
    ]
    assert image_repositories(["acme/tool@sha256:1"]) == ["acme/tool", "docker.io/acme/tool"]
    assert image_repositories(["docker.io/library/python:3.12"]) == [
        "docker.io/library/python",
        "docker.io/python",
        "library/python",
        "python",
    ]


@pytest.mark.parametrize(
    ("image", "allowed"),
    [
        ("ghcr.io/acme/fraud-train@sha256:" + "1" * 64, True),
        ("ghcr.io/acme/fraud-train:3.2", True),
        ("ghcr.io/acme/fraud-train:3.2@sha256:" + "1" * 64, True),
        ("python@sha256:" + "2" * 64, True),
        ("docker.io/library/python:3.12", True),
        ("ghcr.io/attacker/fraud-train@sha256:" + "1" * 64, False),
        ("ghcr.io/acme/fraud-train-evil:1", False),
        ("ghcr.io/acme/fraud-train/evil:1", False),
        ("ghcrxio/acme/fraud-train:1", False),
        ("python:5000/evil@sha256:" + "2" * 64, False),
        ("evil.example/python:3", False),
        ("python@sha256:short", False),
    ],
)
def test_repository_pattern_in_cel(image: str, allowed: bool) -> None:
    pattern = repository_pattern(["ghcr.io/acme/fraud-train:3.1", "python:3.12"])
    assert _value(f"object.matches({json.dumps(pattern)})", {"object": image}) is allowed


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
