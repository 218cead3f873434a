"""Targets: one module per output family, in an explicit registry.

Every target module has `NAME` and `render(plan) -> list[Artifact]`, and reads only the plan.
Modules are imported when used, so `--only kubernetes` does not pay for jinja2 or the rest.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Protocol

from compiler.diagnostics import Sink
from compiler.emit import Artifact
from compiler.load import SourceMap
from compiler.plan import Plan


class Target(Protocol):
    NAME: str

    def render(self, plan: Plan) -> list[Artifact]: ...


REGISTRY: dict[str, str] = {
    "kubernetes": "compiler.targets.kubernetes",
    "argocd": "compiler.targets.argocd",
    "docs": "compiler.targets.docs",
    "feast": "compiler.targets.feast",
    "github": "compiler.targets.github",
    "gitlab": "compiler.targets.gitlab",
    "monitoring": "compiler.targets.monitoring",
}


def load_target(name: str) -> Target:
    """The target module registered under `name`."""
    module = importlib.import_module(REGISTRY[name])
    return module


def render_all(plan: Plan, names: list[str]) -> list[Artifact]:
    """Artifacts of the named targets, sorted by path; a path written twice is a bug."""
    artifacts: dict[str, Artifact] = {}
    for name in names:
        for artifact in load_target(name).render(plan):
            if artifact.path in artifacts:
                raise RuntimeError(f"two targets write {artifact.path}")
            artifacts[artifact.path] = dataclasses.replace(artifact, target=name)
    return [artifacts[p] for p in sorted(artifacts)]


def preflight(
    plan: Plan, names: list[str], smap: SourceMap, sink: Sink, *, explicit: bool
) -> list[str]:
    """Let each target say what it needs from the spec before anything is rendered.

    A target the user named with --only and cannot build is an error; in a full build it is
    left out with a warning, so an optional key (metadata.repository) never fails a build.
    Returns the targets to render."""
    kept: list[str] = []
    for name in names:
        check = getattr(load_target(name), "preflight", None)
        problems = check(plan) if check is not None else []
        for code, message, path in problems:
            if explicit:
                sink.error(code, message, smap.span(path))
            else:
                sink.warning(code, f"{message}; the {name} target is left out", smap.span(path))
        if not problems:
            kept.append(name)
    return kept
