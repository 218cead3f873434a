"""From a checked spec to the files a build writes: plan, preflight, render.

`mlopsc build`, `check`, `report`, `diff` and the property tests share this one path, so what
`check` compares and what `diff` summarises is exactly what `build` writes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from compiler import conventions
from compiler import diagnostics as dx
from compiler.artifact import Artifact
from compiler.conventions import argocd_directories, argocd_reads, env_folder
from compiler.diagnostics import Sink
from compiler.emit import LockInfo
from compiler.load import SourceMap
from compiler.pipeline import Checked
from compiler.plan import Plan, build_plan
from compiler.render_jobs import render_targets
from compiler.targets import REGISTRY, load_target
from compiler.targets.base import TargetError

Renderer = Callable[[Plan, list[str]], list[Artifact]]


@dataclass(frozen=True)
class Compiled:
    """What a build of a checked spec produces."""

    plan: Plan
    artifacts: list[Artifact]
    info: LockInfo


def select_targets(plan: Plan, smap: SourceMap, sink: Sink, *, only: list[str] | None) -> list[str]:
    """The targets to render: all (those the spec cannot feed left out with a warning), or the
    ones named with --only (a target the spec cannot feed is then an error)."""
    kept: list[str] = []
    # A full build leaves out what the spec does not want (CI systems not in outputs.ci).
    wanted = only or [name for name in REGISTRY if load_target(name).enabled(plan)]
    for name in wanted:
        problems = load_target(name).preflight(plan)
        for problem in problems:
            if only is not None:
                sink.error(problem.code, problem.message, smap.span(problem.path))
            else:
                message = f"{problem.message}; the {name} target is left out"
                sink.warning(problem.code, message, smap.span(problem.path))
        if not problems:
            kept.append(name)
    return kept


def render_plan(
    plan: Plan,
    smap: SourceMap,
    sink: Sink,
    *,
    only: list[str] | None = None,
    renderer: Renderer | None = None,
) -> list[Artifact] | None:
    """Every file of the selected targets; None (with located errors in the sink) when the
    spec cannot be built after all. `renderer` replaces the targets' own rendering (`report`
    adds the git history to the documents)."""
    names = select_targets(plan, smap, sink, only=only)
    if sink.has_errors:
        return None
    try:
        artifacts = (renderer or render_targets)(plan, names)
    except TargetError as exc:
        sink.error(exc.code, str(exc), smap.span(exc.path), hint=exc.hint or None)
        return None
    if "argocd" in names and not _argocd_fits(plan, artifacts, smap, sink):
        return None
    return artifacts


def _argocd_fits(plan: Plan, artifacts: list[Artifact], smap: SourceMap, sink: Sink) -> bool:
    """Every Argo CD Application reads at most what Argo CD's repo server accepts from one
    directory source and holds at most ARGOCD_APP_OBJECTS objects (conventions); a located
    error for each one that would not."""
    fits = True
    for ep in plan.environments:
        folder = f"{env_folder(ep.name)}/"
        files = {
            a.path[len(folder) :]: a.content
            for a in artifacts
            if a.path.startswith(folder) and "/" not in a.path[len(folder) :]
        }
        for number, directory in enumerate(argocd_directories(ep.shards)):
            read = [content for name, content in files.items() if argocd_reads(directory, name)]
            size = sum(len(content) for content in read)
            objects = sum(content.count(b"\n---\n") + 1 for content in read if content.strip())
            too_big = size > conventions.ARGOCD_SOURCE_LIMIT
            if too_big or objects > conventions.ARGOCD_APP_OBJECTS:
                fits = False
                which = f"Application {number + 1} of {len(ep.shards) + 1}" if ep.shards else ""
                said = (
                    f"{size:,} bytes of manifests (Argo CD reads at most "
                    f"{conventions.ARGOCD_SOURCE_LIMIT:,} per source)"
                    if too_big
                    else f"{objects:,} objects (at most {conventions.ARGOCD_APP_OBJECTS:,} "
                    "keep an Application's status under etcd's size limit)"
                )
                sink.error(
                    dx.ARGOCD_TOO_LARGE,
                    f"the Argo CD {which or 'Application'} of environment '{ep.name}' would "
                    f"hold {said}",
                    smap.span(ep.spec_path),
                )
    return fits


def compile_outputs(
    checked: Checked,
    sink: Sink,
    *,
    only: list[str] | None = None,
    renderer: Renderer | None = None,
    as_of: dt.date | None = None,
) -> Compiled | None:
    """Plan and render a checked spec; None (with errors in the sink) when it cannot be built.
    as_of: the date documents give (compiler.pipeline.as_of); None leaves it out."""
    plan = build_plan(checked, as_of=as_of)
    smap = checked.document.source_map
    artifacts = render_plan(plan, smap, sink, only=only, renderer=renderer)
    if artifacts is None:
        return None
    return Compiled(plan, artifacts, LockInfo(plan.version, plan.spec_path, plan.spec_sha256))
