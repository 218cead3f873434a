"""Argo Rollouts objects of a runtime `deployment` canary: a `Rollout` whose canary steps raise
the new version's share of pods, each step gated by an `AnalysisTemplate` that measures the
model's own SLIs on the canary's pods (compiler/canary.py). A failed analysis aborts the
rollout: Argo Rollouts scales the canary down and the stable ReplicaSet serves everything."""

from __future__ import annotations

from compiler import canary, slo
from compiler.conventions import CANARY_SUFFIX, COMPONENT, workload_name
from compiler.plan import ModelPlan
from compiler.targets.k8s_pods import Obj, meta

API_VERSION = "argoproj.io/v1alpha1"


def analysis_name(mp: ModelPlan) -> str:
    return workload_name(mp.object_name, CANARY_SUFFIX)


def canary_weights(percent: int) -> list[int]:
    """The canary's share of pods at each step: the spec's percent, then half when that is
    smaller; after the last step the new version takes everything."""
    return [percent, 50] if percent < 50 else [percent]


def steps(mp: ModelPlan, checks: tuple[canary.CanaryCheck, ...]) -> list[Obj]:
    """setWeight, then an analysis of that share (or, with no SLI to judge, a pause as long)."""
    percent = mp.serving.rollout.canary_percent
    assert percent is not None
    judge: Obj
    if checks:
        judge = {
            "analysis": {
                "templates": [{"templateName": analysis_name(mp)}],
                "args": [
                    {"name": canary.HASH_ARG, "valueFrom": {"podTemplateHashValue": "Latest"}}
                ],
            }
        }
    else:
        value = canary.MEASUREMENTS * canary.interval_seconds(mp)
        judge = {"pause": {"duration": slo.format_duration(value)}}
    found: list[Obj] = []
    for weight in canary_weights(percent):
        found += [{"setWeight": weight}, judge]
    return found


def rollout(mp: ModelPlan, template: Obj, checks: tuple[canary.CanaryCheck, ...]) -> Obj:
    """The model's pods as a Rollout; the HPA owns its replicas."""
    return {
        "apiVersion": API_VERSION,
        "kind": "Rollout",
        "metadata": meta(mp.object_name, mp.env.namespace, {**mp.labels, COMPONENT: "predictor"}),
        "spec": {
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": dict(mp.selector)},
            "strategy": {
                "canary": {
                    "maxSurge": "25%",
                    "maxUnavailable": 0,
                    "steps": steps(mp, checks),
                }
            },
            "template": template,
        },
    }


def analysis_template(mp: ModelPlan, checks: tuple[canary.CanaryCheck, ...]) -> Obj:
    """One metric per SLI: MEASUREMENTS queries, one per interval; the second failed one fails
    the analysis, a NaN (no traffic) makes it inconclusive, which pauses the rollout."""
    address = mp.env.prometheus_url
    assert address is not None  # validation requires it where a canary has checks
    interval = mp.serving.rollout.analysis_interval
    metrics = [
        {
            "name": check.slo,
            "interval": interval,
            "count": canary.MEASUREMENTS,
            "failureLimit": canary.FAILURE_LIMIT,
            "successCondition": check.success,
            "failureCondition": check.failure,
            "provider": {"prometheus": {"address": address, "query": check.query}},
        }
        for check in checks
    ]
    return {
        "apiVersion": API_VERSION,
        "kind": "AnalysisTemplate",
        "metadata": meta(
            analysis_name(mp), mp.env.namespace, {**mp.labels, COMPONENT: "predictor"}
        ),
        "spec": {"args": [{"name": canary.HASH_ARG}], "metrics": metrics},
    }
