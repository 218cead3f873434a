"""Argo CD target: the Applications of each environment, syncing its rendered folder: one,
or one per group of models when the folder is larger than one Application can hold."""

from __future__ import annotations

from typing import Any

from compiler.artifact import Artifact
from compiler.conventions import argocd_directories
from compiler.plan import EnvPlan, Plan, k8s_name
from compiler.render.yaml import yaml_text
from compiler.targets.base import ModuleTarget, Problem, TargetError

NAME = "argocd"
ARGOCD_NAMESPACE = "argocd"


def repo_url(repository: str) -> str:
    """An https clone URL from metadata.repository (github.com/acme/x → https://github.com/acme/x.git)."""
    if repository.startswith(("https://", "http://", "ssh://", "git@")):
        return repository
    url = "https://" + repository.strip("/")
    return url if url.endswith(".git") else url + ".git"


def applications(plan: Plan, ep: EnvPlan) -> list[dict[str, Any]]:
    """The environment's Applications: one, or (EnvPlan.shards) one for its own objects and
    one per group of models, each reading its part of the same folder."""
    return [
        application(plan, ep, directory, shard=number)
        for number, directory in enumerate(argocd_directories(ep.shards))
    ]


def application(
    plan: Plan, ep: EnvPlan, directory: dict[str, str], *, shard: int = 0
) -> dict[str, Any]:
    """One Application reading `directory` of the environment's folder; shard 0 is the
    environment's own (all of it when it is not split), n > 0 its n-th group of models."""
    repository = plan.metadata.repository or ""
    folder = plan.repo_path("kubernetes", ep.name)
    sync: dict[str, Any] = {
        "syncOptions": ["PruneLast=true", "ApplyOutOfSyncOnly=true"],
        "retry": {"limit": 5, "backoff": {"duration": "10s", "factor": 2, "maxDuration": "5m"}},
    }
    if not ep.needs_approval:
        sync = {"automated": {"prune": True, "selfHeal": True}, **sync}
    labels = {**plan.labels, "mlopsc/environment": ep.name}
    name = k8s_name(plan.name, ep.name)
    if shard:
        labels["mlopsc/models"] = str(shard)
        name = k8s_name(plan.name, ep.name, "models", str(shard))
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {
            "name": name,
            "namespace": ARGOCD_NAMESPACE,
            "labels": labels,
            "annotations": {
                "mlopsc/approval-required": "true" if ep.needs_approval else "false",
            },
            "finalizers": ["resources-finalizer.argocd.argoproj.io"],
        },
        "spec": {
            "project": ep.env.argocd_project,
            "source": {
                "repoURL": repo_url(repository),
                # Approval environments sync the branch the promotion moves after approval.
                "targetRevision": ep.release_branch or plan.revision,
                "path": folder,
                # A plain directory: kustomize is quadratic in objects, Argo CD needs none of it.
                "directory": {"recurse": False, **directory},
            },
            "destination": {"server": ep.env.cluster, "namespace": ep.namespace},
            "syncPolicy": sync,
            "revisionHistoryLimit": 10,
        },
    }


def preflight(plan: Plan) -> list[Problem]:
    """Argo CD syncs from git: the spec must say which repository."""
    if plan.metadata.repository:
        return []
    return [
        Problem(
            "MLC408",
            "the argocd target needs metadata.repository (the git repository Argo CD syncs from)",
            ("metadata",),
        )
    ]


def render(plan: Plan) -> list[Artifact]:
    header = plan.header("#")
    apps = {ep.name: applications(plan, ep) for ep in plan.environments}
    names = [app["metadata"]["name"] for found in apps.values() for app in found]
    for ep in plan.environments:
        for app in apps[ep.name]:
            if names.count(app["metadata"]["name"]) > 1:
                raise TargetError(
                    "MLC416",
                    f"two Argo CD Applications would be named {app['metadata']['name']}: "
                    f"environment '{ep.name}' is split into groups of models whose "
                    "Applications take the names of another environment's",
                    ep.spec_path,
                    hint="rename one of the environments",
                )
    # An environment's Applications in one file: the promotion commits that file.
    return [
        Artifact(f"argocd/{ep.name}.yaml", yaml_text(apps[ep.name], header=header))
        for ep in plan.environments
    ]


TARGET = ModuleTarget(NAME, render, preflight_fn=preflight)
