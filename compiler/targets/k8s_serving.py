"""Realtime serving objects: runtime `deployment` (Deployment, Service, HPA, PDB, NetworkPolicy,
ServiceMonitor) and runtime `kserve` (an InferenceService shaped by its CRD)."""

from __future__ import annotations

from compiler import canary
from compiler.conventions import APP_VERSION, COMPONENT
from compiler.plan import ModelPlan, Plan, label_value
from compiler.targets.k8s_pods import (
    Obj,
    container,
    container_security,
    meta,
    model_config,
    pod_security,
    pod_spec,
    resources,
)
from compiler.targets.k8s_rollouts import analysis_template, rollout

TRACK = "mlopsc/track"
# Where Prometheus scrapes an Istio sidecar: the agent's merged metrics (Envoy's and the
# application's) and Envoy's own ("Ports used by Istio",
# https://istio.io/latest/docs/ops/deployment/application-requirements/).
ISTIO_METRICS_PORTS = (15020, 15090)
KSERVE_FORMATS = frozenset(
    {"sklearn", "xgboost", "lightgbm", "pytorch", "tensorflow", "onnx", "huggingface"}
)


def server_container(mp: ModelPlan) -> Obj:
    """The model server: the spec's image, the model's config, probes on the health path.

    The config is inline, not from the ConfigMap: a new artifact or version then changes the
    pod template, which is what rolls the pods out (and, with a canary, what Argo Rollouts
    analyses), while pods of the old version keep the config they were started with."""
    s = mp.serving
    assert s.image is not None
    probe: Obj = {
        "failureThreshold": 3,
        "httpGet": {"path": s.health_path, "port": "http"},
        "initialDelaySeconds": 10,
        "periodSeconds": 10,
        "timeoutSeconds": 2,
    }
    return container(
        "server",
        s.image,
        mp.serving_resources,
        gpu=s.resources.gpu,
        env=model_config(mp),
        ports=[{"containerPort": s.port, "name": "http", "protocol": "TCP"}],
        probe=probe,
    )


def deployment(mp: ModelPlan) -> Obj:
    """A rolling Deployment; the HPA owns its replicas. Its selector keeps the track label of
    earlier releases: a Deployment's selector cannot change in place."""
    selector = {**mp.selector, TRACK: "stable"}
    labels = {**mp.labels, COMPONENT: "predictor", **selector}
    spec: Obj = {"revisionHistoryLimit": 5}
    spec["selector"] = {"matchLabels": selector}
    spec["strategy"] = {
        "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0},
        "type": "RollingUpdate",
    }
    spec["template"] = {
        "metadata": {"labels": labels},
        "spec": pod_spec(mp, [server_container(mp)]),
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta(
            mp.object_name, mp.env.namespace, {**mp.labels, COMPONENT: "predictor", TRACK: "stable"}
        ),
        "spec": spec,
    }


def service(mp: ModelPlan) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta(mp.object_name, mp.env.namespace, mp.labels),
        "spec": {
            "ports": [
                {"name": "http", "port": mp.serving.port, "protocol": "TCP", "targetPort": "http"}
            ],
            "selector": dict(mp.selector),
            "type": "ClusterIP",
        },
    }


def autoscaler(mp: ModelPlan, *, target: tuple[str, str] = ("apps/v1", "Deployment")) -> Obj:
    a = mp.serving.autoscaling
    util = {"averageUtilization": a.target_cpu_utilization, "type": "Utilization"}
    api_version, kind = target
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": meta(mp.object_name, mp.env.namespace, mp.labels),
        "spec": {
            "maxReplicas": a.max_replicas,
            "metrics": [{"resource": {"name": "cpu", "target": util}, "type": "Resource"}],
            "minReplicas": a.min_replicas,
            "scaleTargetRef": {"apiVersion": api_version, "kind": kind, "name": mp.object_name},
        },
    }


def disruption_budget(mp: ModelPlan, selector: dict[str, str]) -> Obj:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": meta(mp.object_name, mp.env.namespace, mp.labels),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector}},
    }


def ingress_policy(mp: ModelPlan, selector: dict[str, str], *ports: int) -> Obj:
    """Admits TCP on the given ports of the selected pods only (the namespace denies the rest)."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta(f"{mp.object_name}-ingress", mp.env.namespace, mp.labels),
        "spec": {
            "ingress": [{"ports": [{"port": port, "protocol": "TCP"} for port in ports]}],
            "podSelector": {"matchLabels": selector},
            "policyTypes": ["Ingress"],
        },
    }


def service_monitor(mp: ModelPlan, *, pod_labels: tuple[str, ...] = ()) -> Obj:
    """Prometheus Operator scrapes the server's /metrics through its Service; the `service`
    label it adds is what the SLO rules select on (docs/monitoring.md). `pod_labels` are
    copied from the pods onto the series (the canary's template hash, for its analysis)."""
    spec: Obj = {
        "selector": {"matchLabels": dict(mp.selector)},
        "namespaceSelector": {"matchNames": [mp.env.namespace]},
        "endpoints": [{"port": "http", "path": "/metrics", "interval": "30s"}],
    }
    if pod_labels:
        spec["podTargetLabels"] = list(pod_labels)
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {
            "name": mp.object_name,
            "namespace": mp.env.namespace,
            "labels": dict(mp.labels),
        },
        "spec": spec,
    }


def deployment_objects(plan: Plan, mp: ModelPlan) -> list[Obj]:
    """Runtime `deployment`: a Deployment, or with a canary an Argo Rollouts Rollout whose
    canary steps are judged by the model's SLIs (an AnalysisTemplate, when it has any)."""
    s = mp.serving
    selector = dict(mp.selector)
    tail = [
        service(mp),
        disruption_budget(mp, selector),
        ingress_policy(mp, selector, s.port),
    ]
    if not canary.has_canary(mp):
        return [deployment(mp), *tail[:1], autoscaler(mp), *tail[1:], service_monitor(mp)]
    checks = canary.checks(plan, mp)
    template = {
        "metadata": {"labels": {**mp.labels, COMPONENT: "predictor"}},
        "spec": pod_spec(mp, [server_container(mp)]),
    }
    objects = [rollout(mp, template, checks)]
    if checks:
        objects.append(analysis_template(mp, checks))
    return [
        *objects,
        *tail[:1],
        autoscaler(mp, target=("argoproj.io/v1alpha1", "Rollout")),
        *tail[1:],
        service_monitor(mp, pod_labels=(canary.HASH_POD_LABEL,)),
    ]


def _kserve_model(mp: ModelPlan, config: dict[str, str], uri: str, image: str | None) -> Obj:
    framework = mp.model.framework
    model: Obj = {
        "name": "kserve-container",
        "modelFormat": {"name": framework if framework in KSERVE_FORMATS else "custom"},
    }
    if image:
        model["image"] = image
        model["imagePullPolicy"] = "Always"
    model["storageUri"] = uri
    model["resources"] = resources(mp.serving_resources, mp.serving.resources.gpu)
    model["securityContext"] = container_security()
    model["env"] = [{"name": key, "value": value} for key, value in config.items()]
    return model


def inference_service(mp: ModelPlan, config: dict[str, str]) -> Obj:
    """The InferenceService; with a canary rollout and a candidate, `spec.canary[]` serves the
    candidate to canary_percent of the traffic next to the current version."""
    s = mp.serving
    predictor: Obj = {
        "minReplicas": s.autoscaling.min_replicas,
        "maxReplicas": s.autoscaling.max_replicas,
        "scaleMetric": "cpu",
        "scaleMetricType": "Utilization",
        "scaleTarget": s.autoscaling.target_cpu_utilization,
        "serviceAccountName": mp.object_name,
        "automountServiceAccountToken": False,
        "securityContext": pod_security(),
        "labels": dict(mp.labels),
        "model": _kserve_model(mp, config, mp.storage_uri, s.image),
    }
    if s.request_logging and s.request_log_url:  # validation requires the URL with logging
        predictor["logger"] = {"mode": "all", "url": s.request_log_url}
    spec: Obj = {"predictor": predictor}
    candidate = mp.model.candidate
    if canary.has_canary(mp) and candidate is not None:
        assert s.rollout.canary_percent is not None
        art = candidate.artifact
        next_config = {
            **config,
            "MLOPSC_MODEL_VERSION": candidate.version,
            "MLOPSC_ARTIFACT_URI": art.uri,
            "MLOPSC_ARTIFACT_DIGEST": art.digest or "",
        }
        image = candidate.image or s.image
        canary_predictor = {
            **{k: v for k, v in predictor.items() if k not in ("minReplicas", "maxReplicas")},
            "labels": {**mp.labels, APP_VERSION: label_value(candidate.version)},
            "model": _kserve_model(mp, next_config, art.uri, image),
            "minReplicas": 1,
            "maxReplicas": max(1, s.autoscaling.max_replicas // 2),
        }
        spec["canary"] = [
            {"trafficPercent": s.rollout.canary_percent, "predictor": canary_predictor}
        ]
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": mp.object_name,
            "namespace": mp.env.namespace,
            "labels": dict(mp.labels),
            "annotations": {
                "serving.kserve.io/deploymentMode": "Standard",
                # the model server's request_predict_seconds histograms feed the SLO rules
                "serving.kserve.io/enable-prometheus-scraping": "true",
                "serving.kserve.io/autoscalerClass": "hpa",
            },
        },
        "spec": spec,
    }


def kserve_objects(mp: ModelPlan, config: dict[str, str]) -> list[Obj]:
    selector = {"serving.kserve.io/inferenceservice": mp.object_name}
    return [
        inference_service(mp, config),
        disruption_budget(mp, selector),
        # the model server, and the Istio sidecar's metrics, which the availability SLI reads
        ingress_policy(mp, selector, 8080, *ISTIO_METRICS_PORTS),
    ]
