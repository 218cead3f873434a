"""Building blocks of every pod mlopsc writes: metadata, hardened security contexts, resources,
containers, pod specs and CronJobs, as plain data in the API's own field names.

Every workload is hardened by default: non-root with a high UID, read-only root filesystem,
no privilege escalation, all capabilities dropped, seccomp RuntimeDefault, no service account
token, requests equal to limits, images by digest. Keys are written in the order the
Kubernetes OpenAPI lists them (alphabetical), so that outputs read like `kubectl get -o yaml`.
"""

from __future__ import annotations

from typing import Any

from compiler.conventions import COMPONENT, INSTANCE, PART_OF, workload_name
from compiler.plan import ModelPlan

Obj = dict[str, Any]

UID = 10001


def meta(
    name: str,
    namespace: str | None,
    labels: dict[str, str],
    annotations: dict[str, str] | None = None,
) -> Obj:
    """ObjectMeta; a cluster-scoped object has no namespace."""
    out: Obj = {}
    if annotations:
        out["annotations"] = dict(annotations)
    out["labels"] = dict(labels)
    out["name"] = name
    if namespace is not None:
        out["namespace"] = namespace
    return out


def pod_security() -> Obj:
    return {
        "fsGroup": UID,
        "runAsGroup": UID,
        "runAsNonRoot": True,
        "runAsUser": UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security() -> Obj:
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "runAsGroup": UID,
        "runAsNonRoot": True,
        "runAsUser": UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def resources(res: dict[str, str], gpu: int | None = None) -> Obj:
    """Requests equal to limits (Guaranteed QoS); GPUs are limits only, as the API requires."""
    limits = dict(res)
    if gpu:
        limits["nvidia.com/gpu"] = str(gpu)
    return {"limits": limits, "requests": dict(res)}


def env_list(pairs: dict[str, str]) -> list[Obj]:
    return [{"name": key, "value": value} for key, value in pairs.items()]


def model_config(mp: ModelPlan) -> dict[str, str]:
    """What the model's containers read from `<obj>-config` (KServe: its env)."""
    m = mp.model
    config = {
        "MLOPSC_PROJECT": mp.labels[PART_OF],
        "MLOPSC_ENVIRONMENT": mp.env.name,
        "MLOPSC_MODEL": m.name,
        "MLOPSC_MODEL_VERSION": m.version,
        "MLOPSC_FRAMEWORK": m.framework,
        "MLOPSC_ARTIFACT_URI": m.artifact.uri,
        "MLOPSC_ARTIFACT_DIGEST": m.artifact.digest or "",
        "MLOPSC_FEATURES": ",".join(f.ref for f in mp.features),
        "MLOPSC_REQUEST_LOGGING": "true" if mp.serving.request_logging else "false",
    }
    if mp.serving.request_logging and mp.serving.request_log_url:
        config["MLOPSC_REQUEST_LOG_URL"] = mp.serving.request_log_url
    return config


def config_name(mp: ModelPlan) -> str:
    return workload_name(mp.object_name, "config")


def env_from(mp: ModelPlan) -> list[Obj]:
    return [{"configMapRef": {"name": config_name(mp)}}]


def container(
    name: str,
    image: str,
    res: dict[str, str],
    *,
    gpu: int | None = None,
    command: list[str] | None = None,
    env: dict[str, str] | None = None,
    env_from: list[Obj] | None = None,
    ports: list[Obj] | None = None,
    probe: Obj | None = None,
    mounts: list[Obj] | None = None,
) -> Obj:
    """A hardened container with /tmp (and any extra mounts) on emptyDirs."""
    out: Obj = {}
    if command:
        out["command"] = list(command)
    if env:
        out["env"] = env_list(env)
    if env_from:
        out["envFrom"] = env_from
    out["image"] = image
    out["imagePullPolicy"] = "Always"
    if probe is not None:
        out["livenessProbe"] = probe
    out["name"] = name
    if ports:
        out["ports"] = ports
    if probe is not None:
        out["readinessProbe"] = probe
    out["resources"] = resources(res, gpu)
    out["securityContext"] = container_security()
    out["volumeMounts"] = [*(mounts or []), {"mountPath": "/tmp", "name": "tmp"}]
    return out


def pod_spec(
    mp: ModelPlan,
    containers: list[Obj],
    *,
    restart: str | None = None,
    init: list[Obj] | None = None,
    volumes: tuple[str, ...] = (),
) -> Obj:
    """A pod of the model's service account, without its token, with emptyDir volumes."""
    out: Obj = {"automountServiceAccountToken": False, "containers": containers}
    if init:
        out["initContainers"] = init
    if restart is not None:
        out["restartPolicy"] = restart
    out["securityContext"] = pod_security()
    out["serviceAccountName"] = mp.object_name
    out["volumes"] = [
        *({"emptyDir": {"sizeLimit": "1Gi"}, "name": v} for v in volumes),
        {"emptyDir": {"sizeLimit": "1Gi"}, "name": "tmp"},
    ]
    return out


def cron_job(mp: ModelPlan, suffix: str, component: str, schedule: str, pod: Obj) -> Obj:
    """A CronJob that never overlaps itself, keeps three runs and cleans up after a day.

    Its pods are the model's but not its server's: their instance label is the CronJob's own
    name, so that the selectors of the serving workload (the Rollout's and the Deployment's,
    which cannot change in place, and with them the autoscaler's pod count) and of its
    Service, disruption budget and ingress policy never pick a job's pod."""
    name = workload_name(mp.object_name, suffix)
    labels = {**mp.labels, INSTANCE: name, COMPONENT: component}
    job = {
        "backoffLimit": 2,
        "template": {"metadata": {"labels": labels}, "spec": pod},
        "ttlSecondsAfterFinished": 86400,
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": meta(name, mp.env.namespace, labels),
        "spec": {
            "concurrencyPolicy": "Forbid",
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {"metadata": {"labels": labels}, "spec": job},
            "schedule": schedule,
            "successfulJobsHistoryLimit": 3,
            "timeZone": "Etc/UTC",
        },
    }
