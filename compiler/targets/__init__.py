"""Targets: one module per output family, in an explicit, typed registry.

Each target module defines `TARGET` (a `Target`, see compiler/targets/base.py) and reads only
the plan. Modules are imported when used, so `--only kubernetes` does not pay for jinja2 or the
rest. Adding a target: one module, one line below.
"""

from __future__ import annotations

from collections.abc import Callable

from compiler.plan import EnvPlan, Plan
from compiler.targets.base import Target


def _kubernetes() -> Target:
    from compiler.targets import kubernetes

    return kubernetes.TARGET


def _argocd() -> Target:
    from compiler.targets import argocd

    return argocd.TARGET


def _github() -> Target:
    from compiler.targets import github

    return github.TARGET


def _gitlab() -> Target:
    from compiler.targets import gitlab

    return gitlab.TARGET


def _azure() -> Target:
    from compiler.targets import azure

    return azure.TARGET


def _cloudbuild() -> Target:
    from compiler.targets import cloudbuild

    return cloudbuild.TARGET


def _aws() -> Target:
    from compiler.targets import aws

    return aws.TARGET


def _jenkins() -> Target:
    from compiler.targets import jenkins

    return jenkins.TARGET


def _monitoring() -> Target:
    from compiler.targets import monitoring

    return monitoring.TARGET


def _feast() -> Target:
    from compiler.targets import feast

    return feast.TARGET


def _docs() -> Target:
    from compiler.targets import docs

    return docs.TARGET


REGISTRY: dict[str, Callable[[], Target]] = {
    "kubernetes": _kubernetes,
    "argocd": _argocd,
    "github": _github,
    "gitlab": _gitlab,
    "azure": _azure,
    "cloudbuild": _cloudbuild,
    "aws": _aws,
    "jenkins": _jenkins,
    "monitoring": _monitoring,
    "feast": _feast,
    "docs": _docs,
}

# Targets that write files into the Kubernetes environment folders (declared, see env_files).
ENV_FOLDER_CONTRIBUTORS: tuple[str, ...] = ("monitoring",)


def load_target(name: str) -> Target:
    """The target registered under `name`."""
    return REGISTRY[name]()


def contributed_env_files(plan: Plan, ep: EnvPlan) -> list[str]:
    """Files other targets write into `kubernetes/<env>/`, for its kustomization."""
    return sorted(
        f for name in ENV_FOLDER_CONTRIBUTORS for f in load_target(name).env_files(plan, ep)
    )
