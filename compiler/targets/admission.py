"""Governance enforced at admission: ValidatingAdmissionPolicy objects and their bindings.

A provider of the kubernetes target (see PROVIDERS there): each environment folder gets three
policies (required labels, images, pod security) and one binding each, scoped to the
environment's namespace by its `kubernetes.io/metadata.name` label. Environments that require
approval Deny; the others Warn and Audit, so that a mistake shows up before production.

What is checked (docs/security.md, "Admission policies"):
- every kind that runs pods: Pod (and its ephemeral containers), ReplicationController,
  Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, CronJob, Argo Rollout, KServe
  InferenceService (predictor, transformer, explainer, every canary predictor, their
  `workerSpec`, and every container-like section: `containers`, `initContainers`,
  `ephemeralContainers`, `model`, each framework key, the explainer's `art`), and a namespaced
  KServe ServingRuntime for images and pod security (an InferenceService names one to get its
  runtime image);
- each container against its own pod spec's securityContext, never another component's.

What is exempt: an object made by a known controller from an object the policies already judged
(the pods of a ReplicaSet, the ReplicaSets of a Deployment, the Jobs of a CronJob, the
Deployment KServe makes for an InferenceService, whose runtime and storage-initializer images
the spec does not govern). Exempt means both: an ownerReference with `controller: true` to the
expected kind, and the request made by that controller's own identity. A user can write any
ownerReference, but cannot act as the controller; the namespace's Pod Security Admission label
(`restricted`) still judges every pod, however it was made.
"""

from __future__ import annotations

from typing import Any

from compiler.plan import EnvPlan, Plan, k8s_name

API = "admissionregistration.k8s.io/v1"
REQUIRED_LABELS = ("mlopsc/model", "mlopsc/owner", "mlopsc/risk")
RISKS = ("minimal", "limited", "high")
DIGEST = "@sha256:[0-9a-f]{64}$"

# Every resource whose objects carry pods: (API group, version, resources).
WORKLOADS = (
    ("", "v1", ("pods", "pods/ephemeralcontainers", "replicationcontrollers")),
    ("apps", "v1", ("deployments", "replicasets", "statefulsets", "daemonsets")),
    ("batch", "v1", ("cronjobs", "jobs")),
    ("serving.kserve.io", "v1beta1", ("inferenceservices",)),
    ("argoproj.io", "v1alpha1", ("rollouts",)),
)
# Not model workloads (no model labels), but their containers run in the namespace.
RUNTIMES = (("serving.kserve.io", "v1alpha1", ("servingruntimes",)),)

# The container-like sections of an InferenceService component, besides the pod spec's lists
# (every predictor implementation key of the KServe CRD, and the explainer's).
KSERVE_CONTAINERS = (
    "model",
    "huggingface",
    "lightgbm",
    "onnx",
    "paddle",
    "pmml",
    "pytorch",
    "sklearn",
    "tensorflow",
    "triton",
    "xgboost",
    "art",
)

_KCM = "system:kube-controller-manager"  # when it does not use per-controller credentials


def _sa(namespace: str, name: str) -> str:
    return f"system:serviceaccount:{namespace}:{name}"


# (kind made, owner apiVersion, owner kind, identities of the controller that makes it).
CONTROLLERS = (
    ("Pod", "apps/v1", "ReplicaSet", (_sa("kube-system", "replicaset-controller"), _KCM)),
    ("Pod", "batch/v1", "Job", (_sa("kube-system", "job-controller"), _KCM)),
    ("Pod", "apps/v1", "StatefulSet", (_sa("kube-system", "statefulset-controller"), _KCM)),
    ("Pod", "apps/v1", "DaemonSet", (_sa("kube-system", "daemon-set-controller"), _KCM)),
    ("Pod", "v1", "ReplicationController", (_sa("kube-system", "replication-controller"), _KCM)),
    ("ReplicaSet", "apps/v1", "Deployment", (_sa("kube-system", "deployment-controller"), _KCM)),
    ("ReplicaSet", "argoproj.io/v1alpha1", "Rollout", (_sa("argo-rollouts", "argo-rollouts"),)),
    ("Job", "batch/v1", "CronJob", (_sa("kube-system", "cronjob-controller"), _KCM)),
    (
        "Deployment",
        "serving.kserve.io/v1beta1",
        "InferenceService",
        (_sa("kserve", "kserve-controller-manager"), _sa("kubeflow", "kserve-controller-manager")),
    ),
)

# Volume kinds the Pod Security Standards' restricted profile allows.
VOLUME_KINDS = (
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
)


def _quote(text: str) -> str:
    """A CEL string literal (single quotes, escaped)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _list(items: list[str] | tuple[str, ...]) -> str:
    return "[" + ", ".join(_quote(i) for i in items) + "]"


def _or(field: str, default: str) -> str:
    """`field` when it is set, else `default` (field is a dotted CEL path)."""
    return f"(has({field}) ? {field} : {default})"


def not_controller_made() -> str:
    """The match condition: false only for an object a known controller made (module doc)."""
    clauses = " || ".join(
        f"(object.kind == {_quote(kind)} && r.apiVersion == {_quote(api)}"
        f" && r.kind == {_quote(owner)} && request.userInfo.username in {_list(users)})"
        for kind, api, owner, users in CONTROLLERS
    )
    return (
        "!(has(object.metadata.ownerReferences) && object.metadata.ownerReferences.exists(r,"
        f" has(r.controller) && r.controller == true && ({clauses})))"
    )


# InferenceService components: each is a pod spec with container-like sections beside it.
COMPONENTS = (
    "object.kind != 'InferenceService' ? []"
    " : [object.spec.predictor]"
    " + (has(object.spec.transformer) ? [object.spec.transformer] : [])"
    " + (has(object.spec.explainer) ? [object.spec.explainer] : [])"
    " + (has(object.spec.canary)"
    " ? object.spec.canary.filter(c, has(c.predictor)).map(c, c.predictor) : [])"
)
# Every pod spec the object carries.
POD_SPECS = (
    "object.kind == 'Pod' ? [object.spec]"
    " : object.kind == 'CronJob' ? [object.spec.jobTemplate.spec.template.spec]"
    " : object.kind == 'InferenceService'"
    " ? variables.components + variables.components.filter(p, has(p.workerSpec)).map(p, p.workerSpec)"
    " : object.kind == 'ServingRuntime'"
    " ? [object.spec] + (has(object.spec.workerSpec) ? [object.spec.workerSpec] : [])"
    " : has(object.spec.template) && has(object.spec.template.spec) ? [object.spec.template.spec]"
    " : []"
)
# Per pod spec, its containers of every kind, each with the pod spec's securityContext.
CONTAINERS = (
    "variables.podSpecs.map(ps, ("
    + _or("ps.containers", "[]")
    + " + "
    + _or("ps.initContainers", "[]")
    + " + "
    + _or("ps.ephemeralContainers", "[]")
    + f" + {_list(KSERVE_CONTAINERS)}.filter(k, k in ps).map(k, ps[k]))"
    ".map(c, {'container': c, 'pod': " + _or("ps.securityContext", "{}") + "}))"
)
# The pod templates' labels (what the pods made from them carry).
TEMPLATE_LABELS = (
    "object.kind == 'CronJob' ? [object.spec.jobTemplate.spec.template]"
    " : object.kind in ['Deployment', 'ReplicaSet', 'StatefulSet', 'DaemonSet', 'Job',"
    " 'ReplicationController', 'Rollout'] && has(object.spec.template) ? [object.spec.template]"
    " : []"
)


def _each_container(check: str) -> str:
    """`check` (about `x.container` and its pod's `x.pod`) holds for every container."""
    return f"variables.containers.all(cs, cs.all(x, {check}))"


def _csc(field: str) -> str:
    """has(container securityContext.field)."""
    return f"has(x.container.securityContext) && has(x.container.securityContext.{field})"


def model_images(plan: Plan) -> dict[str, list[str]]:
    """Model name → every image the spec names for it: serving (with overrides), training, drift."""
    found: dict[str, list[str]] = {}
    for m in plan.models:
        images = {
            image
            for image in (
                m.serving.image,
                m.training.image if m.training else None,
                m.monitoring.drift.image if m.monitoring.drift else None,
                *(o.image for o in m.serving.overrides.values()),
            )
            if image
        }
        found[m.name] = sorted(images)
    return found


def spec_images(plan: Plan) -> list[str]:
    """Every image the spec names."""
    return sorted({i for images in model_images(plan).values() for i in images})


_DOCKER_HUB = ("docker.io", "index.docker.io", "registry-1.docker.io")
TAG = r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"


def image_repositories(images: list[str]) -> list[str]:
    """The repositories of the spec's images (no tag, no digest), in every spelling a container
    runtime reads the same: a Docker Hub image also as `docker.io/...` and `library/...`."""
    found: set[str] = set()
    for image in images:
        name = image.split("@", 1)[0]
        if name.rfind(":") > name.rfind("/"):
            name = name[: name.rfind(":")]
        first, slash, rest = name.partition("/")
        if slash and ("." in first or ":" in first or first == "localhost"):
            if first not in _DOCKER_HUB:
                found.add(name)
                continue
            name = rest
        path = name if "/" in name else f"library/{name}"
        found |= {path, f"docker.io/{path}"}
        if path.startswith("library/"):
            found |= {path.removeprefix("library/"), f"docker.io/{path.removeprefix('library/')}"}
    return sorted(found)


def repository_pattern(images: list[str]) -> str:
    """An RE2 pattern matching exactly the images of those repositories, with any tag and
    digest (a prefix test would let `python:5000/x`, a registry named python, pass as python)."""
    names = "|".join(r.replace(".", "\\.") for r in image_repositories(images))
    return f"^({names}){TAG}(@sha256:[0-9a-f]{{64}})?$"


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
    present = " && ".join(f"{_quote(k)} in l && l[{_quote(k)}] != ''" for k in REQUIRED_LABELS)
    return [
        {
            "expression": f"variables.labels.all(l, {present})",
            "message": "mlopsc governance: workloads and their pod templates carry the labels "
            + ", ".join(REQUIRED_LABELS),
            "reason": "Invalid",
        },
        {
            "expression": "variables.labels.all(l, !('mlopsc/risk' in l)"
            f" || l['mlopsc/risk'] in {_list(RISKS)})",
            "message": "mlopsc governance: mlopsc/risk is one of " + ", ".join(RISKS),
            "reason": "Invalid",
        },
    ]


def image_validations(plan: Plan) -> list[dict[str, str]]:
    pinned = f"x.container.image.matches({_quote(DIGEST)})"
    waived = _waived_digest_models(plan)
    if waived:
        # A waiver accepts the unpinned images the spec names for that model, and no other.
        images = model_images(plan)
        label = "variables.model"
        pinned += "".join(
            f" || ({label} == {_quote(m)} && x.container.image in {_list(images.get(m, []))})"
            for m in waived
        )
    checks = [
        {
            "expression": _each_container(f"!has(x.container.image) || {pinned}"),
            "message": "mlopsc governance: images are pinned by digest (repo@sha256:...), BASE-002",
            "reason": "Forbidden",
        }
    ]
    named = spec_images(plan)
    if named:
        checks.append(
            {
                "expression": _each_container(
                    "!has(x.container.image)"
                    f" || x.container.image.matches({_quote(repository_pattern(named))})"
                ),
                "message": "mlopsc governance: images come from the image repositories the spec"
                " names",
                "reason": "Forbidden",
            }
        )
    return checks


def security_validations() -> list[dict[str, str]]:
    pod_non_root = "has(x.pod.runAsNonRoot) && x.pod.runAsNonRoot == true"
    allowed_seccomp = "['RuntimeDefault', 'Localhost']"
    host = " && ".join(
        f"!(has(ps.{f}) && ps.{f} == true)" for f in ("hostNetwork", "hostPID", "hostIPC")
    )
    return [
        {
            "expression": _each_container(
                f"!({_csc('privileged')}) || x.container.securityContext.privileged == false"
            ),
            "message": "mlopsc governance: no privileged containers",
            "reason": "Forbidden",
        },
        {
            "expression": _each_container(
                f"{_csc('allowPrivilegeEscalation')}"
                " && x.container.securityContext.allowPrivilegeEscalation == false"
            ),
            "message": "mlopsc governance: containers set allowPrivilegeEscalation: false",
            "reason": "Forbidden",
        },
        {
            "expression": _each_container(
                f"({_csc('runAsNonRoot')} && x.container.securityContext.runAsNonRoot == true)"
                f" || (({pod_non_root}) && !({_csc('runAsNonRoot')}))"
            ),
            "message": "mlopsc governance: containers run as non-root (runAsNonRoot: true)",
            "reason": "Forbidden",
        },
        {
            "expression": _each_container(
                "!(has(x.pod.runAsUser) && x.pod.runAsUser == 0)"
                f" && !({_csc('runAsUser')} && x.container.securityContext.runAsUser == 0)"
            ),
            "message": "mlopsc governance: no container runs as UID 0",
            "reason": "Forbidden",
        },
        {
            "expression": _each_container(
                f"{_csc('capabilities')} && has(x.container.securityContext.capabilities.drop)"
                " && 'ALL' in x.container.securityContext.capabilities.drop"
                " && (!has(x.container.securityContext.capabilities.add)"
                " || x.container.securityContext.capabilities.add.all(a, a == 'NET_BIND_SERVICE'))"
            ),
            "message": "mlopsc governance: containers drop ALL capabilities and add none but NET_BIND_SERVICE",
            "reason": "Forbidden",
        },
        {
            "expression": _each_container(
                f"{_csc('seccompProfile')} ? x.container.securityContext.seccompProfile.type in {allowed_seccomp}"
                f" : has(x.pod.seccompProfile) && x.pod.seccompProfile.type in {allowed_seccomp}"
            ),
            "message": "mlopsc governance: seccomp profile RuntimeDefault or Localhost",
            "reason": "Forbidden",
        },
        {
            "expression": f"variables.podSpecs.all(ps, {host})"
            + " && "
            + _each_container(
                "!has(x.container.ports) || x.container.ports.all(p, !has(p.hostPort) || p.hostPort == 0)"
            ),
            "message": "mlopsc governance: no host network, PID or IPC namespace, no host ports",
            "reason": "Forbidden",
        },
        {
            "expression": "variables.podSpecs.all(ps, !has(ps.volumes)"
            f" || ps.volumes.all(v, v.all(k, k == 'name' || k in {_list(VOLUME_KINDS)})))",
            "message": "mlopsc governance: volumes are of the kinds the restricted profile allows"
            " (no hostPath)",
            "reason": "Forbidden",
        },
    ]


def _rules(groups: tuple[tuple[str, str, tuple[str, ...]], ...]) -> list[dict[str, Any]]:
    return [
        {
            "apiGroups": [g],
            "apiVersions": [v],
            "resources": list(r),
            "operations": ["CREATE", "UPDATE"],
        }
        for g, v, r in groups
    ]


Variable = dict[str, str]

# The pod-bearing policies' variables, in the order the API server evaluates them.
POD_VARIABLES: list[Variable] = [
    {"name": "components", "expression": COMPONENTS},
    {"name": "podSpecs", "expression": POD_SPECS},
    {"name": "containers", "expression": CONTAINERS},
]
LABEL_VARIABLES: list[Variable] = [
    {
        "name": "labels",
        "expression": f"[{_or('object.metadata.labels', '{}')}] + ({TEMPLATE_LABELS})"
        ".map(t, has(t.metadata) && has(t.metadata.labels) ? t.metadata.labels : {})",
    }
]
MODEL_VARIABLE: Variable = {
    "name": "model",
    "expression": "has(object.metadata.labels) && 'mlopsc/model' in object.metadata.labels"
    " ? object.metadata.labels['mlopsc/model'] : ''",
}


def _policy(
    name: str,
    labels: dict[str, str],
    resources: tuple[tuple[str, str, tuple[str, ...]], ...],
    variables: list[Variable],
    validations: list[dict[str, str]],
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "failurePolicy": "Fail",
        "matchConstraints": {"resourceRules": _rules(resources)},
        "matchConditions": [
            {"name": "not-made-by-a-known-controller", "expression": not_controller_made()}
        ],
        "variables": variables,
        "validations": validations,
    }
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
    images = image_validations(plan)
    uses_model = any("variables.model" in v["expression"] for v in images)
    parts = [
        ("labels", WORKLOADS, LABEL_VARIABLES, label_validations()),
        (
            "images",
            WORKLOADS + RUNTIMES,
            POD_VARIABLES + ([MODEL_VARIABLE] if uses_model else []),
            images,
        ),
        ("pod-security", WORKLOADS + RUNTIMES, POD_VARIABLES, security_validations()),
    ]
    policies = []
    bindings = []
    for suffix, resources, variables, validations in parts:
        name = k8s_name("mlopsc", plan.name, ep.name, suffix, limit=63)
        policies.append(_policy(name, labels, resources, [dict(v) for v in variables], validations))
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
