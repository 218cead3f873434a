"""Kubernetes target: one fully rendered folder per environment, with a kustomization.

Objects are plain data in the API's field names (k8s_pods, k8s_serving); this module puts each
model's objects together, adds the namespace-wide ones, and serializes every object in one
place, where an object too large for the API server stops the build (docs/kubernetes.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from compiler.artifact import Artifact
from compiler.conventions import DRIFT_SUFFIX, SCORE_SUFFIX, TRAIN_SUFFIX, model_file
from compiler.plan import JOB_DEFAULTS, EnvPlan, ModelPlan, Plan, SpecPath, k8s_name
from compiler.render.yaml import yaml_text
from compiler.targets import contributed_env_files
from compiler.targets.admission import admission_files
from compiler.targets.base import ModuleTarget
from compiler.targets.k8s_manifests import manifest_text
from compiler.targets.k8s_pods import (
    Obj,
    config_name,
    container,
    cron_job,
    env_from,
    meta,
    model_config,
    pod_spec,
)
from compiler.targets.k8s_serving import deployment_objects, kserve_objects

NAME = "kubernetes"
# A valid schedule for a suspended CronJob: training without a schedule runs only by hand.
MANUAL_ONLY = "0 0 1 1 *"


@dataclass(frozen=True)
class EnvFile:
    """One file of an environment folder: its objects and the spec key they come from."""

    name: str
    objects: list[Obj]
    source: SpecPath


def _service_account(mp: ModelPlan) -> Obj:
    return {
        "apiVersion": "v1",
        "automountServiceAccountToken": False,
        "kind": "ServiceAccount",
        "metadata": meta(mp.object_name, mp.env.namespace, mp.labels),
    }


def _config_map(mp: ModelPlan) -> Obj:
    return {
        "apiVersion": "v1",
        "data": model_config(mp),
        "kind": "ConfigMap",
        "metadata": meta(config_name(mp), mp.env.namespace, mp.labels),
    }


def _job(mp: ModelPlan, suffix: str, component: str, schedule: str, worker: Obj) -> Obj:
    return cron_job(mp, suffix, component, schedule, pod_spec(mp, [worker], restart="Never"))


def _training_job(plan: Plan, mp: ModelPlan) -> Obj | None:
    """The model's training, where it trains on Kubernetes: in the first environment only,
    which produces new versions that promotion then moves; suspended when it has no schedule
    (run it with `kubectl create job --from=cronjob/<obj>-train`)."""
    training = mp.model.training
    if training is None or mp.trains_on != "kubernetes" or not mp.trains_here:
        return None
    params = {
        f"MLOPSC_PARAM_{key.upper()}": value if isinstance(value, str) else json.dumps(value)
        for key, value in sorted(training.params.items())
    }
    params["MLOPSC_TRAINING_DATA"] = ",".join(training.data)
    # the CI gate reads the run's metrics from here (docs/kubernetes.md, "Training")
    params["MLOPSC_METRICS_URI"] = plan.metrics_uri(mp.model)
    trainer = container(
        "trainer",
        training.image,
        mp.training_resources,
        gpu=training.resources.gpu,
        command=list(training.command),
        env=params,
        env_from=env_from(mp),
    )
    job = _job(mp, TRAIN_SUFFIX, "training", training.schedule or MANUAL_ONLY, trainer)
    if not training.schedule:
        job["spec"]["suspend"] = True
    return job


def drift_command(plan: Plan, mp: ModelPlan) -> list[str]:
    """`mlopsc drift` with everything it needs as arguments (the spec is not in the image)."""
    drift = mp.model.monitoring.drift
    assert drift is not None
    command = ["mlopsc", "drift", "--model", mp.name, "--namespace", mp.env.namespace]
    for feature in plan.drift_features[mp.name]:
        command += ["--feature", feature]
    command += ["--metric", drift.metric, "--threshold", repr(drift.threshold)]
    for flag, value in (
        ("--reference", drift.reference),
        ("--current", drift.current),
        ("--pushgateway", drift.pushgateway),
    ):
        if value:
            command += [flag, value]
    return command


def _drift_job(plan: Plan, mp: ModelPlan) -> Obj | None:
    drift = mp.model.monitoring.drift
    if drift is None:
        return None
    training = mp.model.training
    image = drift.image or (training.image if training else None) or mp.serving.image
    assert image is not None
    checker = container(
        "drift",
        image,
        dict(JOB_DEFAULTS),
        command=drift_command(plan, mp),
        env_from=env_from(mp),
    )
    return _job(mp, DRIFT_SUFFIX, "drift-monitor", drift.schedule, checker)


def model_objects(plan: Plan, mp: ModelPlan) -> list[Obj]:
    """Every object of one model in one environment."""
    s = mp.serving
    objects = [_service_account(mp), _config_map(mp)]
    if s.mode == "realtime":
        if s.runtime == "kserve":
            objects += kserve_objects(mp, model_config(mp))
        else:
            objects += deployment_objects(plan, mp)
    else:
        assert s.image is not None and s.schedule is not None
        scorer = container(
            "scorer", s.image, mp.serving_resources, gpu=s.resources.gpu, env_from=env_from(mp)
        )
        objects.append(_job(mp, SCORE_SUFFIX, "batch-scoring", s.schedule, scorer))
    objects += [job for job in (_training_job(plan, mp), _drift_job(plan, mp)) if job is not None]
    return objects


def _namespace(ep: EnvPlan) -> Obj:
    labels = {
        **ep.labels,
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/audit": "restricted",
        "pod-security.kubernetes.io/warn": "restricted",
    }
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta(ep.namespace, None, labels)}


def _default_deny(ep: EnvPlan) -> Obj:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta(k8s_name("default-deny-ingress"), ep.namespace, ep.labels),
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
    }


def env_files(plan: Plan, ep: EnvPlan) -> list[EnvFile]:
    """The files of one environment folder, kustomization excepted, sorted by name."""
    where = ep.spec_path
    files = [
        EnvFile("namespace.yaml", [_namespace(ep)], where),
        EnvFile("network-policy.yaml", [_default_deny(ep)], where),
    ]
    files += [
        EnvFile(model_file(mp.name), model_objects(plan, mp), mp.spec_path) for mp in ep.models
    ]
    files += [EnvFile(name, objects, where) for name, objects in admission_files(plan, ep)]
    return sorted(files, key=lambda f: f.name)


def render(plan: Plan) -> list[Artifact]:
    header = plan.header("#")
    artifacts: list[Artifact] = []
    for ep in plan.environments:
        folder = f"kubernetes/{ep.name}"
        files = env_files(plan, ep)
        for file in files:
            path = f"{folder}/{file.name}"
            text = manifest_text(path, file.objects, source=file.source, header=header)
            artifacts.append(Artifact(path, text))
        kustomization = {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": sorted([f.name for f in files] + contributed_env_files(plan, ep)),
        }
        artifacts.append(
            Artifact(f"{folder}/kustomization.yaml", yaml_text([kustomization], header=header))
        )
    return artifacts


TARGET = ModuleTarget(NAME, render)
