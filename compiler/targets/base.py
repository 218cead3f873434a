"""The contract every target follows, and the one thing a target imports besides the plan,
the conventions and the render layer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from compiler.artifact import Artifact
from compiler.plan import EnvPlan, Plan

__all__ = ["Artifact", "ModuleTarget", "Problem", "Target", "TargetError", "ci_system"]


@dataclass(frozen=True)
class Problem:
    """Why a target cannot be built from this spec: a diagnostic code, a message, a spec path."""

    code: str
    message: str
    path: tuple[str | int, ...]


class TargetError(Exception):
    """A spec a target cannot render after all (found while rendering), located at a spec key."""

    def __init__(self, code: str, message: str, path: tuple[str | int, ...], hint: str = ""):
        super().__init__(message)
        self.code = code
        self.path = path
        self.hint = hint


class Target(Protocol):
    """An output family: checks what it needs, renders files, declares what it adds elsewhere."""

    @property
    def name(self) -> str: ...

    def preflight(self, plan: Plan) -> list[Problem]:
        """What the spec lacks for this target (nothing: it can be built)."""
        ...

    def render(self, plan: Plan) -> list[Artifact]:
        """Every file of this target, paths relative to the output folder."""
        ...

    def env_files(self, plan: Plan, ep: EnvPlan) -> list[str]:
        """Names of the files this target writes into another target's environment folder
        (`kubernetes/<env>/`), so that folder's kustomization can list them."""
        ...

    def enabled(self, plan: Plan) -> bool:
        """Whether a full build renders it (`--only` renders it whatever this says)."""
        ...


def _no_problems(plan: Plan) -> list[Problem]:
    return []


def _no_files(plan: Plan, ep: EnvPlan) -> list[str]:
    return []


def _always(plan: Plan) -> bool:
    return True


def ci_system(name: str) -> Callable[[Plan], bool]:
    """`enabled` of a CI target: the spec lists it in `outputs.ci`."""

    def enabled(plan: Plan) -> bool:
        return name in plan.ci_systems

    return enabled


@dataclass(frozen=True)
class ModuleTarget:
    """A target made of a module's functions (the usual way to write one)."""

    name: str
    render_fn: Callable[[Plan], list[Artifact]]
    preflight_fn: Callable[[Plan], list[Problem]] = field(default=_no_problems)
    env_files_fn: Callable[[Plan, EnvPlan], list[str]] = field(default=_no_files)
    enabled_fn: Callable[[Plan], bool] = field(default=_always)

    def preflight(self, plan: Plan) -> list[Problem]:
        return self.preflight_fn(plan)

    def render(self, plan: Plan) -> list[Artifact]:
        return self.render_fn(plan)

    def env_files(self, plan: Plan, ep: EnvPlan) -> list[str]:
        return self.env_files_fn(plan, ep)

    def enabled(self, plan: Plan) -> bool:
        return self.enabled_fn(plan)
