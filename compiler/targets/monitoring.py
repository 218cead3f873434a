"""Monitoring target: SLOs compiled to Prometheus rules proven by promtool tests, Alertmanager
routes per owner team and environment, and a Grafana dashboard per model (docs/monitoring.md).

The rule groups of each environment (its namespace only, labelled with its name) are also
PrometheusRule objects, one per model, that this target writes into each Kubernetes
environment folder (declared through `env_files`, so the kustomization lists them).
"""

from __future__ import annotations

from typing import Any

from compiler.artifact import Artifact
from compiler.conventions import rules_file
from compiler.plan import EnvPlan, Plan, SloPlan, k8s_name
from compiler.render.yaml import json_text, yaml_text
from compiler.targets import alertmanager, grafana, prometheus, prometheus_tests
from compiler.targets.base import ModuleTarget
from compiler.targets.k8s_manifests import manifest_text

NAME = "monitoring"
RULES = "monitoring/prometheus/rules"
TESTS = "monitoring/prometheus/tests"


def prometheus_rule_files(plan: Plan, ep: EnvPlan) -> list[tuple[str, list[dict[str, Any]]]]:
    """The environment's SLO rules as PrometheusRule objects (monitoring.coreos.com/v1), one
    per model, so that no object nears the API server's size limit as models are added; in
    one file, or one file per group of models when the folder is split between Argo CD
    Applications (EnvPlan.shards)."""
    rules: dict[str, dict[str, Any]] = {}
    for model, groups in sorted(prometheus.env_groups(plan, ep.name).items()):
        rules[model] = {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "PrometheusRule",
            "metadata": {
                "name": k8s_name(plan.name, model, "slos", limit=63),
                "namespace": ep.namespace,
                "labels": {**ep.labels, "app.kubernetes.io/component": "slo-rules"},
            },
            "spec": {"groups": groups},
        }
    return [
        (name, [rules[m] for m in models if m in rules]) for name, models in _rule_files(plan, ep)
    ]


def _rule_files(plan: Plan, ep: EnvPlan) -> list[tuple[str, tuple[str, ...]]]:
    """(file name, its models) of the environment's PrometheusRule files: only files with
    at least one model whose SLOs are judged here."""
    judged = {sp.model.name for sp in plan.slos for mp in sp.deployments if mp.env.name == ep.name}
    if not ep.shards:
        models = tuple(mp.name for mp in ep.models)
        groups: list[tuple[str, tuple[str, ...]]] = [(rules_file(), models)]
    else:
        groups = [(rules_file(i), shard) for i, shard in enumerate(ep.shards, 1)]
    return [(name, models) for name, models in groups if judged.intersection(models)]


def env_files(plan: Plan, ep: EnvPlan) -> list[str]:
    """Files this target writes into `kubernetes/<env>/` (named without rendering them: the
    kubernetes target asks for its kustomization)."""
    return [name for name, _ in _rule_files(plan, ep)]


def render(plan: Plan) -> list[Artifact]:
    header = plan.header("#")
    artifacts: list[Artifact] = []
    for ep in plan.environments:
        for name, objects in prometheus_rule_files(plan, ep):
            path = f"kubernetes/{ep.name}/{name}"
            # through the one Kubernetes serializer: no object over the API server's limit
            text = manifest_text(path, objects, source=("slos",), header=header)
            artifacts.append(Artifact(path, text))
    for name, file_header, rules in prometheus.rule_files(plan):
        artifacts.append(Artifact(f"{RULES}/{name}", yaml_text([rules], header=file_header)))
    for sp in plan.slos:
        if not sp.deployments:
            continue
        doc, _ = prometheus_tests.test_file(plan, sp, f"../rules/{sp.slo.name}.yaml")
        artifacts.append(Artifact(f"{TESTS}/{sp.slo.name}.yaml", yaml_text([doc], header=header)))
    if plan.slos:
        artifacts.append(
            Artifact(
                "monitoring/alertmanager/routes.yaml",
                yaml_text([alertmanager.config(plan)], header=header),
            )
        )
    if plan.environments:
        slos: dict[str, list[SloPlan]] = {}
        for sp in plan.slos:
            slos.setdefault(sp.model.name, []).append(sp)
        for mp in plan.environments[0].models:
            board = grafana.dashboard(plan, mp, tuple(slos.get(mp.name, ())))
            artifacts.append(Artifact(f"monitoring/grafana/{mp.name}.json", json_text(board)))
    return artifacts


TARGET = ModuleTarget(NAME, render, env_files_fn=env_files)
