"""Kubernetes target: one fully rendered folder per environment, with a kustomization.

Core objects are built with the `kubernetes` client's typed models and serialized as data;
KServe InferenceServices (a custom resource) are built as plain dicts shaped by their CRD.
Every workload is hardened by default: non-root with a high UID, read-only root filesystem,
no privilege escalation, all capabilities dropped, seccomp RuntimeDefault, no service account
token, requests and limits, probes on servers, images by digest.
"""

from __future__ import annotations

import importlib
import json
import math
from collections.abc import Callable
from typing import Any

from compiler.emit import Artifact, yaml_text
from compiler.plan import JOB_DEFAULTS, EnvPlan, ModelPlan, Plan, k8s_name

NAME = "kubernetes"
UID = 10001
TRACK = "mlopsc/track"
INSTANCE = "app.kubernetes.io/instance"
COMPONENT = "app.kubernetes.io/component"
KSERVE_FORMATS = {
    "sklearn": "sklearn",
    "xgboost": "xgboost",
    "lightgbm": "lightgbm",
    "pytorch": "pytorch",
    "tensorflow": "tensorflow",
    "onnx": "onnx",
    "huggingface": "huggingface",
}

# Other targets add objects to each environment folder: (plan, env) -> [(file name, objects)].
Provider = Callable[[Plan, EnvPlan], list[tuple[str, list[dict[str, Any]]]]]
PROVIDERS: list[str] = [  # "module:function" names, imported when the target renders
    "compiler.targets.admission:admission_files",
    "compiler.targets.monitoring:prometheus_rule_files",
]


def _k() -> Any:
    import kubernetes.client as k

    return k


_CLIENT: Any = None


def _data(obj: Any) -> dict[str, Any]:
    global _CLIENT
    if _CLIENT is None:
        _CLIENT = _k().ApiClient()
    result: dict[str, Any] = _CLIENT.sanitize_for_serialization(obj)
    return result


def _meta(
    name: str,
    namespace: str | None,
    labels: dict[str, str],
    annotations: dict[str, str] | None = None,
) -> Any:
    return _k().V1ObjectMeta(
        name=name, namespace=namespace, labels=dict(labels), annotations=annotations or None
    )


def _pod_security() -> Any:
    k = _k()
    return k.V1PodSecurityContext(
        run_as_non_root=True,
        run_as_user=UID,
        run_as_group=UID,
        fs_group=UID,
        seccomp_profile=k.V1SeccompProfile(type="RuntimeDefault"),
    )


def _container_security() -> Any:
    k = _k()
    return k.V1SecurityContext(
        allow_privilege_escalation=False,
        privileged=False,
        read_only_root_filesystem=True,
        run_as_non_root=True,
        run_as_user=UID,
        run_as_group=UID,
        capabilities=k.V1Capabilities(drop=["ALL"]),
        seccomp_profile=k.V1SeccompProfile(type="RuntimeDefault"),
    )


def _resources(res: dict[str, str], gpu: int | None = None) -> Any:
    limits = dict(res)
    if gpu:
        limits["nvidia.com/gpu"] = str(gpu)
    return _k().V1ResourceRequirements(requests=dict(res), limits=limits)


def _tmp_volume() -> tuple[Any, Any]:
    k = _k()
    return (
        k.V1Volume(name="tmp", empty_dir=k.V1EmptyDirVolumeSource(size_limit="1Gi")),
        k.V1VolumeMount(name="tmp", mount_path="/tmp"),
    )


def _env(pairs: dict[str, str]) -> list[Any]:
    k = _k()
    return [k.V1EnvVar(name=key, value=value) for key, value in pairs.items()]


def _pod_spec(mp: ModelPlan, containers: list[Any], *, restart: str | None = None) -> Any:
    volume, _ = _tmp_volume()
    return _k().V1PodSpec(
        service_account_name=mp.object_name,
        automount_service_account_token=False,
        security_context=_pod_security(),
        containers=containers,
        volumes=[volume],
        restart_policy=restart,
    )


def _container(name: str, image: str, res: dict[str, str], **kw: Any) -> Any:
    _, mount = _tmp_volume()
    return _k().V1Container(
        name=name,
        image=image,
        image_pull_policy="Always",
        security_context=_container_security(),
        resources=_resources(res, kw.pop("gpu", None)),
        volume_mounts=[mount],
        **kw,
    )


def _model_config(mp: ModelPlan) -> dict[str, str]:
    m = mp.model
    return {
        "MLOPSC_PROJECT": mp.labels["app.kubernetes.io/part-of"],
        "MLOPSC_ENVIRONMENT": mp.env.name,
        "MLOPSC_MODEL": m.name,
        "MLOPSC_MODEL_VERSION": m.version,
        "MLOPSC_FRAMEWORK": m.framework,
        "MLOPSC_ARTIFACT_URI": m.artifact.uri,
        "MLOPSC_ARTIFACT_DIGEST": m.artifact.digest or "",
        "MLOPSC_FEATURES": ",".join(f.ref for f in mp.features),
        "MLOPSC_REQUEST_LOGGING": "true" if mp.serving.request_logging else "false",
    }


def _service_account(mp: ModelPlan) -> dict[str, Any]:
    k = _k()
    return _data(
        k.V1ServiceAccount(
            api_version="v1",
            kind="ServiceAccount",
            metadata=_meta(mp.object_name, mp.env.namespace, mp.labels),
            automount_service_account_token=False,
        )
    )


def _config_map(mp: ModelPlan) -> dict[str, Any]:
    k = _k()
    return _data(
        k.V1ConfigMap(
            api_version="v1",
            kind="ConfigMap",
            metadata=_meta(f"{mp.object_name}-config", mp.env.namespace, mp.labels),
            data=_model_config(mp),
        )
    )


def _cron_job(
    mp: ModelPlan, suffix: str, component: str, schedule: str, container: Any
) -> dict[str, Any]:
    k = _k()
    labels = {**mp.labels, COMPONENT: component}
    pod = _pod_spec(mp, [container], restart="Never")
    job = k.V1JobSpec(
        backoff_limit=2,
        ttl_seconds_after_finished=86400,
        template=k.V1PodTemplateSpec(metadata=k.V1ObjectMeta(labels=labels), spec=pod),
    )
    return _data(
        k.V1CronJob(
            api_version="batch/v1",
            kind="CronJob",
            metadata=_meta(f"{mp.object_name}-{suffix}", mp.env.namespace, labels),
            spec=k.V1CronJobSpec(
                schedule=schedule,
                time_zone="Etc/UTC",
                concurrency_policy="Forbid",
                successful_jobs_history_limit=3,
                failed_jobs_history_limit=3,
                job_template=k.V1JobTemplateSpec(metadata=k.V1ObjectMeta(labels=labels), spec=job),
            ),
        )
    )


def _env_from(mp: ModelPlan) -> list[Any]:
    k = _k()
    return [
        k.V1EnvFromSource(config_map_ref=k.V1ConfigMapEnvSource(name=f"{mp.object_name}-config"))
    ]


def _deployment(mp: ModelPlan, track: str, replicas: int | None) -> dict[str, Any]:
    k = _k()
    s = mp.serving
    assert s.image is not None
    name = mp.object_name if track == "stable" else f"{mp.object_name}-canary"
    selector = {**mp.selector, TRACK: track}
    labels = {**mp.labels, COMPONENT: "predictor", **selector}
    probe = k.V1Probe(
        http_get=k.V1HTTPGetAction(path=s.health_path, port="http"),
        initial_delay_seconds=10,
        period_seconds=10,
        timeout_seconds=2,
        failure_threshold=3,
    )
    container = _container(
        "server",
        s.image,
        mp.serving_resources,
        gpu=s.resources.gpu,
        ports=[k.V1ContainerPort(name="http", container_port=s.port, protocol="TCP")],
        env_from=_env_from(mp),
        liveness_probe=probe,
        readiness_probe=probe,
    )
    spec = k.V1DeploymentSpec(
        replicas=replicas,
        revision_history_limit=5,
        selector=k.V1LabelSelector(match_labels=selector),
        strategy=k.V1DeploymentStrategy(
            type="RollingUpdate",
            rolling_update=k.V1RollingUpdateDeployment(max_surge="25%", max_unavailable=0),
        ),
        template=k.V1PodTemplateSpec(
            metadata=k.V1ObjectMeta(labels=labels), spec=_pod_spec(mp, [container])
        ),
    )
    return _data(
        k.V1Deployment(
            api_version="apps/v1",
            kind="Deployment",
            metadata=_meta(
                name, mp.env.namespace, {**mp.labels, COMPONENT: "predictor", TRACK: track}
            ),
            spec=spec,
        )
    )


def canary_replicas(min_replicas: int, percent: int) -> int:
    """Replicas that give the canary about `percent` of traffic next to the stable minimum."""
    return max(1, math.ceil(min_replicas * percent / (100 - percent)))


def _server_objects(mp: ModelPlan) -> list[dict[str, Any]]:
    k = _k()
    s = mp.serving
    ns = mp.env.namespace
    objects = [_deployment(mp, "stable", None)]
    if s.rollout.strategy == "canary" and s.rollout.canary_percent:
        replicas = canary_replicas(s.autoscaling.min_replicas, s.rollout.canary_percent)
        objects.append(_deployment(mp, "canary", replicas))
    objects.append(
        _data(
            k.V1Service(
                api_version="v1",
                kind="Service",
                metadata=_meta(mp.object_name, ns, mp.labels),
                spec=k.V1ServiceSpec(
                    type="ClusterIP",
                    selector=dict(mp.selector),
                    ports=[
                        k.V1ServicePort(
                            name="http", port=s.port, target_port="http", protocol="TCP"
                        )
                    ],
                ),
            )
        )
    )
    objects.append(
        _data(
            k.V2HorizontalPodAutoscaler(
                api_version="autoscaling/v2",
                kind="HorizontalPodAutoscaler",
                metadata=_meta(mp.object_name, ns, mp.labels),
                spec=k.V2HorizontalPodAutoscalerSpec(
                    scale_target_ref=k.V2CrossVersionObjectReference(
                        api_version="apps/v1", kind="Deployment", name=mp.object_name
                    ),
                    min_replicas=s.autoscaling.min_replicas,
                    max_replicas=s.autoscaling.max_replicas,
                    metrics=[
                        k.V2MetricSpec(
                            type="Resource",
                            resource=k.V2ResourceMetricSource(
                                name="cpu",
                                target=k.V2MetricTarget(
                                    type="Utilization",
                                    average_utilization=s.autoscaling.target_cpu_utilization,
                                ),
                            ),
                        )
                    ],
                ),
            )
        )
    )
    objects.append(_pdb(mp, dict(mp.selector)))
    objects.append(_ingress_policy(mp, dict(mp.selector), s.port))
    objects.append(_service_monitor(mp))
    return objects


def _service_monitor(mp: ModelPlan) -> dict[str, Any]:
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


def _pdb(mp: ModelPlan, selector: dict[str, str]) -> dict[str, Any]:
    k = _k()
    return _data(
        k.V1PodDisruptionBudget(
            api_version="policy/v1",
            kind="PodDisruptionBudget",
            metadata=_meta(mp.object_name, mp.env.namespace, mp.labels),
            spec=k.V1PodDisruptionBudgetSpec(
                max_unavailable=1, selector=k.V1LabelSelector(match_labels=selector)
            ),
        )
    )


def _ingress_policy(mp: ModelPlan, selector: dict[str, str], port: int) -> dict[str, Any]:
    k = _k()
    return _data(
        k.V1NetworkPolicy(
            api_version="networking.k8s.io/v1",
            kind="NetworkPolicy",
            metadata=_meta(f"{mp.object_name}-ingress", mp.env.namespace, mp.labels),
            spec=k.V1NetworkPolicySpec(
                pod_selector=k.V1LabelSelector(match_labels=selector),
                policy_types=["Ingress"],
                ingress=[
                    k.V1NetworkPolicyIngressRule(
                        ports=[k.V1NetworkPolicyPort(port=port, protocol="TCP")]
                    )
                ],
            ),
        )
    )


def _kserve_model(mp: ModelPlan) -> dict[str, Any]:
    s = mp.serving
    model: dict[str, Any] = {"name": "kserve-container"}
    fmt = KSERVE_FORMATS.get(mp.model.framework)
    model["modelFormat"] = {"name": fmt or "custom"}
    if s.image:
        model["image"] = s.image
        model["imagePullPolicy"] = "Always"
    model["storageUri"] = mp.model.artifact.uri
    model["resources"] = _data(_resources(mp.serving_resources, s.resources.gpu))
    model["securityContext"] = _data(_container_security())
    model["env"] = [{"name": key, "value": value} for key, value in _model_config(mp).items()]
    return model


def _inference_service(mp: ModelPlan) -> dict[str, Any]:
    s = mp.serving
    predictor: dict[str, Any] = {
        "minReplicas": s.autoscaling.min_replicas,
        "maxReplicas": s.autoscaling.max_replicas,
        "scaleMetric": "cpu",
        "scaleMetricType": "Utilization",
        "scaleTarget": s.autoscaling.target_cpu_utilization,
        "serviceAccountName": mp.object_name,
        "automountServiceAccountToken": False,
        "securityContext": _data(_pod_security()),
        "labels": dict(mp.labels),
        "model": _kserve_model(mp),
    }
    if s.request_logging:
        url = s.request_log_url or f"http://request-logger.{mp.env.namespace}.svc.cluster.local"
        predictor["logger"] = {"mode": "all", "url": url}
    spec: dict[str, Any] = {"predictor": predictor}
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


def _kserve_objects(mp: ModelPlan) -> list[dict[str, Any]]:
    selector = {"serving.kserve.io/inferenceservice": mp.object_name}
    return [_inference_service(mp), _pdb(mp, selector), _ingress_policy(mp, selector, 8080)]


def _job_container(
    name: str,
    image: str,
    res: dict[str, str],
    mp: ModelPlan,
    env: dict[str, str],
    command: list[str] | None = None,
    gpu: int | None = None,
) -> Any:
    return _container(
        name,
        image,
        res,
        env_from=_env_from(mp),
        env=_env(env) or None,
        command=command or None,
        gpu=gpu,
    )


def model_objects(mp: ModelPlan) -> list[dict[str, Any]]:
    """Every object of one model in one environment."""
    m = mp.model
    s = mp.serving
    objects = [_service_account(mp), _config_map(mp)]
    if s.mode == "realtime":
        objects += _kserve_objects(mp) if s.runtime == "kserve" else _server_objects(mp)
    else:
        assert s.image is not None and s.schedule is not None
        scorer = _job_container(
            "scorer", s.image, mp.serving_resources, mp, {}, gpu=s.resources.gpu
        )
        objects.append(_cron_job(mp, "score", "batch-scoring", s.schedule, scorer))
    if m.training is not None and m.training.schedule and mp.trains_here:
        params = {
            f"MLOPSC_PARAM_{key.upper()}": json.dumps(value)
            if not isinstance(value, str)
            else value
            for key, value in sorted(m.training.params.items())
        }
        params["MLOPSC_TRAINING_DATA"] = ",".join(m.training.data)
        trainer = _job_container(
            "trainer",
            m.training.image,
            mp.training_resources,
            mp,
            params,
            command=list(m.training.command),
            gpu=m.training.resources.gpu,
        )
        objects.append(_cron_job(mp, "train", "training", m.training.schedule, trainer))
    drift = m.monitoring.drift
    if drift is not None:
        image = drift.image or (m.training.image if m.training else None) or s.image
        assert image is not None
        env = {
            "MLOPSC_DRIFT_FEATURES": ",".join(drift.features),
            "MLOPSC_DRIFT_METRIC": drift.metric,
            "MLOPSC_DRIFT_THRESHOLD": repr(drift.threshold),
        }
        checker = _job_container("drift", image, dict(JOB_DEFAULTS), mp, env)
        objects.append(_cron_job(mp, "drift", "drift-monitor", drift.schedule, checker))
    return objects


def _namespace(ep: EnvPlan) -> dict[str, Any]:
    k = _k()
    labels = {
        **ep.labels,
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/audit": "restricted",
        "pod-security.kubernetes.io/warn": "restricted",
    }
    return _data(
        k.V1Namespace(
            api_version="v1", kind="Namespace", metadata=_meta(ep.namespace, None, labels)
        )
    )


def _default_deny(ep: EnvPlan) -> dict[str, Any]:
    k = _k()
    return _data(
        k.V1NetworkPolicy(
            api_version="networking.k8s.io/v1",
            kind="NetworkPolicy",
            metadata=_meta(k8s_name("default-deny-ingress"), ep.namespace, ep.labels),
            spec=k.V1NetworkPolicySpec(pod_selector=k.V1LabelSelector(), policy_types=["Ingress"]),
        )
    )


def env_files(plan: Plan, ep: EnvPlan) -> list[tuple[str, list[dict[str, Any]]]]:
    """(file name, objects) of one environment folder, kustomization excepted."""
    files: list[tuple[str, list[dict[str, Any]]]] = [
        ("namespace.yaml", [_namespace(ep)]),
        ("network-policy.yaml", [_default_deny(ep)]),
    ]
    for mp in ep.models:
        files.append((f"model-{mp.name}.yaml", model_objects(mp)))
    for provider in PROVIDERS:
        module_name, _, func = provider.partition(":")
        files.extend(getattr(importlib.import_module(module_name), func)(plan, ep))
    return files


def render(plan: Plan) -> list[Artifact]:
    header = plan.header("#")
    artifacts: list[Artifact] = []
    for ep in plan.environments:
        files = sorted(env_files(plan, ep))
        folder = f"kubernetes/{ep.name}"
        for name, objects in files:
            artifacts.append(Artifact(f"{folder}/{name}", yaml_text(objects, header=header)))
        kustomization = {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": [name for name, _ in files],
        }
        artifacts.append(
            Artifact(f"{folder}/kustomization.yaml", yaml_text([kustomization], header=header))
        )
    return artifacts
