"""Realtime serving objects: runtime `deployment` (Deployment, Service, HPA, PDB, NetworkPolicy,
ServiceMonitor) and runtime `kserve` (an InferenceService shaped by its CRD)."""

from __future__ import annotations

import math

from compiler.plan import ModelPlan
from compiler.targets.k8s_pods import (
    COMPONENT,
    Obj,
    container,
    container_security,
    env_from,
    meta,
    pod_security,
    pod_spec,
    resources,
)

TRACK = "mlopsc/track"
KSERVE_FORMATS = frozenset(
    {"sklearn", "xgboost", "lightgbm", "pytorch", "tensorflow", "onnx", "huggingface"}
)


def canary_replicas(min_replicas: int, percent: int) -> int:
    """Replicas that give the canary about `percent` of traffic next to the stable minimum."""
    return max(1, math.ceil(min_replicas * percent / (100 - percent)))


def server_container(mp: ModelPlan) -> Obj:
    """The model server: the spec's image, the model's config, probes on the health path."""
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
        env_from=env_from(mp),
        ports=[{"containerPort": s.port, "name": "http", "protocol": "TCP"}],
        probe=probe,
    )


def deployment(mp: ModelPlan, track: str, replicas: int | None) -> Obj:
    name = mp.object_name if track == "stable" else f"{mp.object_name}-canary"
    selector = {**mp.selector, TRACK: track}
    labels = {**mp.labels, COMPONENT: "predictor", **selector}
    spec: Obj = {}
    if replicas is not None:
        spec["replicas"] = replicas
    spec["revisionHistoryLimit"] = 5
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
            name, mp.env.namespace, {**mp.labels, COMPONENT: "predictor", TRACK: track}
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


def autoscaler(mp: ModelPlan, *, api_version: str = "apps/v1", kind: str = "Deployment") -> Obj:
    a = mp.serving.autoscaling
    target = {"averageUtilization": a.target_cpu_utilization, "type": "Utilization"}
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": meta(mp.object_name, mp.env.namespace, mp.labels),
        "spec": {
            "maxReplicas": a.max_replicas,
            "metrics": [{"resource": {"name": "cpu", "target": target}, "type": "Resource"}],
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


def ingress_policy(mp: ModelPlan, selector: dict[str, str], port: int) -> Obj:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta(f"{mp.object_name}-ingress", mp.env.namespace, mp.labels),
        "spec": {
            "ingress": [{"ports": [{"port": port, "protocol": "TCP"}]}],
            "podSelector": {"matchLabels": selector},
            "policyTypes": ["Ingress"],
        },
    }


def service_monitor(mp: ModelPlan) -> Obj:
    """Prometheus Operator scrapes the server's /metrics through its Service; the `service`
    label it adds is what the SLO rules select on (docs/monitoring.md)."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {
            "name": mp.object_name,
            "namespace": mp.env.namespace,
            "labels": dict(mp.labels),
        },
        "spec": {
            "selector": {"matchLabels": dict(mp.selector)},
            "namespaceSelector": {"matchNames": [mp.env.namespace]},
            "endpoints": [{"port": "http", "path": "/metrics", "interval": "30s"}],
        },
    }


def deployment_objects(mp: ModelPlan) -> list[Obj]:
    """Runtime `deployment`: a stable Deployment, a fixed-size canary track when asked."""
    s = mp.serving
    objects = [deployment(mp, "stable", None)]
    if s.rollout.strategy == "canary" and s.rollout.canary_percent:
        replicas = canary_replicas(s.autoscaling.min_replicas, s.rollout.canary_percent)
        objects.append(deployment(mp, "canary", replicas))
    return [
        *objects,
        service(mp),
        autoscaler(mp),
        disruption_budget(mp, dict(mp.selector)),
        ingress_policy(mp, dict(mp.selector), s.port),
        service_monitor(mp),
    ]


def _kserve_model(mp: ModelPlan, config: dict[str, str]) -> Obj:
    s = mp.serving
    framework = mp.model.framework
    model: Obj = {
        "name": "kserve-container",
        "modelFormat": {"name": framework if framework in KSERVE_FORMATS else "custom"},
    }
    if s.image:
        model["image"] = s.image
        model["imagePullPolicy"] = "Always"
    model["storageUri"] = mp.model.artifact.uri
    model["resources"] = resources(mp.serving_resources, s.resources.gpu)
    model["securityContext"] = container_security()
    model["env"] = [{"name": key, "value": value} for key, value in config.items()]
    return model


def inference_service(mp: ModelPlan, config: dict[str, str]) -> Obj:
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
        "model": _kserve_model(mp, config),
    }
    if s.request_logging and s.request_log_url:  # validation requires the URL with logging
        predictor["logger"] = {"mode": "all", "url": s.request_log_url}
    spec: Obj = {"predictor": predictor}
    if s.rollout.strategy == "canary" and s.rollout.canary_percent:
        canary_predictor = {
            k: v for k, v in predictor.items() if k not in ("minReplicas", "maxReplicas")
        }
        canary_predictor["minReplicas"] = 1
        canary_predictor["maxReplicas"] = max(1, s.autoscaling.max_replicas // 2)
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
        ingress_policy(mp, selector, 8080),
    ]
