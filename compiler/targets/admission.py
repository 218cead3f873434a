"""Governance enforced at admission: ValidatingAdmissionPolicy objects and their bindings.

A provider of the kubernetes target (see PROVIDERS there): each environment folder gets three
policies (required labels, images, pod security) and one binding each, scoped to the
environment's namespace by its `kubernetes.io/metadata.name` label. Environments that require
approval Deny; the others Warn and Audit, so that a mistake shows up before production.

Only objects that people or Argo CD apply are checked: objects owned by a controller (pods of
a Deployment, the Deployment KServe makes for an InferenceService, with its runtime and
storage-initializer images) are skipped, since the spec does not govern their images.
"""

from __future__ import annotations

from typing import Any

from compiler.plan import EnvPlan, Plan, k8s_name

API = "admissionregistration.k8s.io/v1"
REQUIRED_LABELS = ("mlopsc/model", "mlopsc/owner", "mlopsc/risk")
RISKS = ("minimal", "limited", "high")
DIGEST = "@sha256:[0-9a-f]{64}$"

_RULES = [
    ("", "v1", ["pods"]),
    ("apps", "v1", ["deployments", "statefulsets", "daemonsets"]),
    ("batch", "v1", ["cronjobs", "jobs"]),
    ("serving.kserve.io", "v1beta1", ["inferenceservices"]),
]

# The pod spec and containers of every matched kind; an InferenceService's predictor is a
# pod spec with the model container beside it.
POD_SPEC = (
    "object.kind == 'Pod' ? object.spec"
    " : object.kind == 'CronJob' ? object.spec.jobTemplate.spec.template.spec"
    " : object.kind == 'InferenceService' ? object.spec.predictor"
    " : object.spec.template.spec"
)
CONTAINERS = (
    "(has(variables.podSpec.containers) ? variables.podSpec.containers : [])"
    " + (has(variables.podSpec.initContainers) ? variables.podSpec.initContainers : [])"
    " + (has(variables.podSpec.ephemeralContainers) ? variables.podSpec.ephemeralContainers : [])"
    " + (object.kind == 'InferenceService' && has(object.spec.predictor.model)"
    " ? [object.spec.predictor.model] : [])"
    " + (object.kind == 'InferenceService' && has(object.spec.canary)"
    " ? object.spec.canary.filter(c, has(c.predictor) && has(c.predictor.model))"
    ".map(c, c.predictor.model) : [])"
)
NOT_OWNED = "!has(object.metadata.ownerReferences) || size(object.metadata.ownerReferences) == 0"


def _quote(text: str) -> str:
    """A CEL string literal (single quotes, escaped)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _list(items: list[str]) -> str:
    return "[" + ", ".join(_quote(i) for i in items) + "]"


def registry_prefixes(images: list[str]) -> list[str]:
    """Allowed image prefixes: the registry host of each image seen in the spec."""
    prefixes: set[str] = set()
    for image in images:
        first, slash, _ = image.partition("/")
        if slash and ("." in first or ":" in first or first == "localhost"):
            prefixes.add(first + "/")
        else:
            # Docker Hub short names: allow both the explicit and the implicit spelling.
            prefixes.add("docker.io/")
            prefixes.add(first + "/" if slash else first.split("@")[0].split(":")[0] + "@")
    return sorted(prefixes)


def spec_images(plan: Plan) -> list[str]:
    """Every image the spec names: serving (with overrides), training and drift jobs."""
    images: set[str] = set()
    for m in plan.models:
        for image in (
            m.serving.image,
            m.training.image if m.training else None,
            m.monitoring.drift.image if m.monitoring.drift else None,
        ):
            if image:
                images.add(image)
        for override in m.serving.overrides.values():
            if override.image:
                images.add(override.image)
    return sorted(images)


def _waived_digest_models(plan: Plan) -> list[str]:
    """Models whose unpinned images are accepted by an active BASE-002 waiver."""
    return sorted(
        {
            o.result.target
            for o in plan.governance.outcomes
            if o.rule == "BASE-002" and o.status == "waived"
        }
    )


def label_validations() -> list[dict[str, str]]:
    present = " && ".join(
        f"{_quote(k)} in object.metadata.labels && object.metadata.labels[{_quote(k)}] != ''"
        for k in REQUIRED_LABELS
    )
    return [
        {
            "expression": f"has(object.metadata.labels) && {present}",
            "message": "mlopsc governance: workloads carry the labels "
            + ", ".join(REQUIRED_LABELS),
            "reason": "Invalid",
        },
        {
            "expression": f"!has(object.metadata.labels) || !('mlopsc/risk' in object.metadata.labels) || object.metadata.labels['mlopsc/risk'] in {_list(list(RISKS))}",
            "message": "mlopsc governance: mlopsc/risk is one of " + ", ".join(RISKS),
            "reason": "Invalid",
        },
    ]


def image_validations(plan: Plan) -> list[dict[str, str]]:
    digest = f"variables.containers.all(c, !has(c.image) || c.image.matches({_quote(DIGEST)}))"
    waived = _waived_digest_models(plan)
    if waived:
        exempt = (
            "has(object.metadata.labels) && 'mlopsc/model' in object.metadata.labels"
            f" && object.metadata.labels['mlopsc/model'] in {_list(waived)}"
        )
        digest = f"({exempt}) || {digest}"
    checks = [
        {
            "expression": digest,
            "message": "mlopsc governance: images are pinned by digest (repo@sha256:...), BASE-002",
            "reason": "Forbidden",
        }
    ]
    prefixes = registry_prefixes(spec_images(plan))
    if prefixes:
        checks.append(
            {
                "expression": f"variables.containers.all(c, !has(c.image) || {_list(prefixes)}.exists(p, c.image.startsWith(p)))",
                "message": "mlopsc governance: images come from the registries of the spec: "
                + ", ".join(prefixes),
                "reason": "Forbidden",
            }
        )
    return checks


def security_validations() -> list[dict[str, str]]:
    pod_ctx = "has(variables.podSpec.securityContext)"
    pod_non_root = f"({pod_ctx} && has(variables.podSpec.securityContext.runAsNonRoot) && variables.podSpec.securityContext.runAsNonRoot == true)"
    return [
        {
            "expression": "variables.containers.all(c, !has(c.securityContext) || !has(c.securityContext.privileged) || c.securityContext.privileged == false)",
            "message": "mlopsc governance: no privileged containers",
            "reason": "Forbidden",
        },
        {
            "expression": "variables.containers.all(c, !has(c.securityContext) || !has(c.securityContext.allowPrivilegeEscalation) || c.securityContext.allowPrivilegeEscalation == false)",
            "message": "mlopsc governance: containers do not allow privilege escalation",
            "reason": "Forbidden",
        },
        {
            "expression": (
                "variables.containers.all(c, (has(c.securityContext) && has(c.securityContext.runAsNonRoot) && c.securityContext.runAsNonRoot == true)"
                f" || ({pod_non_root} && !(has(c.securityContext) && has(c.securityContext.runAsNonRoot) && c.securityContext.runAsNonRoot == false)))"
            ),
            "message": "mlopsc governance: containers run as non-root (runAsNonRoot: true)",
            "reason": "Forbidden",
        },
        {
            "expression": (
                f"(!{pod_ctx} || !has(variables.podSpec.securityContext.runAsUser) || variables.podSpec.securityContext.runAsUser != 0)"
                " && variables.containers.all(c, !has(c.securityContext) || !has(c.securityContext.runAsUser) || c.securityContext.runAsUser != 0)"
            ),
            "message": "mlopsc governance: no container runs as UID 0",
            "reason": "Forbidden",
        },
    ]


def _policy(
    name: str, labels: dict[str, str], validations: list[dict[str, str]], *, pods: bool
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "failurePolicy": "Fail",
        "matchConstraints": {
            "resourceRules": [
                {
                    "apiGroups": [g],
                    "apiVersions": [v],
                    "resources": r,
                    "operations": ["CREATE", "UPDATE"],
                }
                for g, v, r in _RULES
            ]
        },
        "matchConditions": [{"name": "not-controller-owned", "expression": NOT_OWNED}],
    }
    if pods:
        spec["variables"] = [
            {"name": "podSpec", "expression": POD_SPEC},
            {"name": "containers", "expression": CONTAINERS},
        ]
    spec["validations"] = validations
    return {
        "apiVersion": API,
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name, "labels": dict(labels)},
        "spec": spec,
    }


def _binding(name: str, labels: dict[str, str], ep: EnvPlan) -> dict[str, Any]:
    actions = ["Deny"] if ep.needs_approval else ["Warn", "Audit"]
    return {
        "apiVersion": API,
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name, "labels": dict(labels)},
        "spec": {
            "policyName": name,
            "validationActions": actions,
            "matchResources": {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ep.namespace}}
            },
        },
    }


def admission_policies(plan: Plan, ep: EnvPlan) -> list[dict[str, Any]]:
    """The policies and bindings of one environment (cluster-scoped, so named per environment)."""
    labels = {**ep.labels, "mlopsc/environment": ep.name}
    parts = [
        ("labels", label_validations(), False),
        ("images", image_validations(plan), True),
        ("pod-security", security_validations(), True),
    ]
    policies = []
    bindings = []
    for suffix, validations, pods in parts:
        name = k8s_name("mlopsc", plan.name, ep.name, suffix, limit=63)
        policies.append(_policy(name, labels, validations, pods=pods))
        bindings.append(_binding(name, labels, ep))
    return policies + bindings


def admission_files(plan: Plan, ep: EnvPlan) -> list[tuple[str, list[dict[str, Any]]]]:
    """The kubernetes target's provider hook: one file per environment."""
    return [("admission-policy.yaml", admission_policies(plan, ep))]


def all_expressions(objects: list[dict[str, Any]]) -> list[str]:
    """Every CEL expression in the given objects (for tests and tooling)."""
    found: list[str] = []
    for obj in objects:
        spec = obj.get("spec", {})
        for key in ("matchConditions", "variables", "validations"):
            found.extend(item["expression"] for item in spec.get(key, []))
    return found
