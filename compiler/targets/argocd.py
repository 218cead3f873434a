"""Argo CD target: one Application per environment, syncing its rendered folder (through
several sources when the folder is larger than one source may read)."""

from __future__ import annotations

from typing import Any

from compiler.artifact import Artifact
from compiler.conventions import argocd_directories
from compiler.plan import EnvPlan, Plan, k8s_name
from compiler.render.yaml import yaml_text
from compiler.targets.base import ModuleTarget, Problem

NAME = "argocd"
ARGOCD_NAMESPACE = "argocd"


def repo_url(repository: str) -> str:
    """An https clone URL from metadata.repository (github.com/acme/x → https://github.com/acme/x.git)."""
    if repository.startswith(("https://", "http://", "ssh://", "git@")):
        return repository
    url = "https://" + repository.strip("/")
    return url if url.endswith(".git") else url + ".git"


def application(plan: Plan, ep: EnvPlan) -> dict[str, Any]:
    repository = plan.metadata.repository or ""
    folder = plan.repo_path("kubernetes", ep.name)
    sync: dict[str, Any] = {
        "syncOptions": ["PruneLast=true", "ApplyOutOfSyncOnly=true"],
        "retry": {"limit": 5, "backoff": {"duration": "10s", "factor": 2, "maxDuration": "5m"}},
    }
    if not ep.needs_approval:
        sync = {"automated": {"prune": True, "selfHeal": True}, **sync}
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {
            "name": k8s_name(plan.name, ep.name),
            "namespace": ARGOCD_NAMESPACE,
            "labels": {**plan.labels, "mlopsc/environment": ep.name},
            "annotations": {
                "mlopsc/approval-required": "true" if ep.needs_approval else "false",
            },
            "finalizers": ["resources-finalizer.argocd.argoproj.io"],
        },
        "spec": {
            "project": ep.env.argocd_project,
            **_sources(
                [
                    {
                        "repoURL": repo_url(repository),
                        # Approval environments sync the branch the promotion moves after
                        # approval.
                        "targetRevision": ep.release_branch or plan.revision,
                        "path": folder,
                        # A plain directory: kustomize is quadratic in objects, Argo CD needs
                        # none of it.
                        "directory": {"recurse": False, **directory},
                    }
                    for directory in argocd_directories(ep.shards)
                ]
            ),
            "destination": {"server": ep.env.cluster, "namespace": ep.namespace},
            "syncPolicy": sync,
            "revisionHistoryLimit": 10,
        },
    }


def _sources(sources: list[dict[str, Any]]) -> dict[str, Any]:
    """One source, or several reading parts of the folder: Argo CD's repo server reads at most
    10M of manifests per source (conventions.ARGOCD_SOURCE_LIMIT)."""
    return {"source": sources[0]} if len(sources) == 1 else {"sources": sources}


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
    return [
        Artifact(f"argocd/{ep.name}.yaml", yaml_text([application(plan, ep)], header=header))
        for ep in plan.environments
    ]


TARGET = ModuleTarget(NAME, render, preflight_fn=preflight)
