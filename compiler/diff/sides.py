"""The two sides of a diff: the spec at a git ref and in the working tree, each taken through
the same pipeline as `build` (load, validate, meaning, governance, plan, targets)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from compiler.diagnostics import Severity, Sink
from compiler.diff.compare import Json
from compiler.gitspec import git_root, materialize, resolve_ref
from compiler.load import SourceMap
from compiler.plan import Plan


class SideStatus(StrEnum):
    ABSENT = "absent"  # the spec file does not exist at the ref
    UNREADABLE = "unreadable"  # not YAML, or an include cannot be read
    INVALID = "invalid"  # schema or meaning errors (failing rules are not: they are compared)
    VALID = "valid"


@dataclass(frozen=True)
class Side:
    """Whatever could be made of the spec on one side."""

    label: str
    status: SideStatus
    problems: tuple[str, ...] = ()
    data: Mapping[str, Json] | None = None  # the document as written (includes merged)
    plan: Plan | None = None  # when valid
    files: Mapping[str, str] | None = None  # generated path -> sha256, when it renders
    render_problem: str | None = None


def _problem_lines(sink: Sink, tmp: str | None, prefix: str) -> tuple[str, ...]:
    lines: list[str] = []
    for d in sink.sorted():
        if d.severity is not Severity.ERROR:
            continue
        name = d.span.file
        if tmp is not None:
            absolute = os.path.abspath(name)
            if absolute.startswith(tmp + os.sep):
                name = prefix + os.path.relpath(absolute, tmp).replace(os.sep, "/")
        lines.append(f"{name}:{d.span.line}: {d.code}: {d.message}")
    return tuple(lines)


def _render(plan: Plan, smap: SourceMap) -> tuple[dict[str, str] | None, str | None]:
    """Every file a full `build` writes (path -> sha256), or why the side cannot be rendered."""
    from compiler.build import render_plan

    # Targets the spec cannot feed are left out, as in a full build (their warnings are
    # build's business, not the diff's).
    sink = Sink()
    artifacts = render_plan(plan, smap, sink)
    if artifacts is None:
        return None, "; ".join(
            f"{d.code}: {d.message}" for d in sink.sorted() if d.severity is Severity.ERROR
        )
    return {a.path: a.sha256 for a in artifacts}, None


def read_side(
    path: str, label: str, *, today: dt.date, tmp: str | None = None, prefix: str = ""
) -> Side:
    """Take the spec at `path` through the pipeline as far as it goes."""
    from compiler.load import load_spec
    from compiler.pipeline import check_document
    from compiler.plan import build_plan

    sink = Sink()
    document = load_spec(path, sink)
    if document is None or sink.has_errors:
        data = document.data if document is not None else None
        return Side(label, SideStatus.UNREADABLE, _problem_lines(sink, tmp, prefix), data)
    checked = check_document(document, sink, on=today, keep_going=True)
    if checked is None:
        problems = _problem_lines(sink, tmp, prefix)
        return Side(label, SideStatus.INVALID, problems, document.data)
    plan = build_plan(checked)
    files, problem = _render(plan, checked.document.source_map)
    return Side(label, SideStatus.VALID, (), document.data, plan, files, problem)


def read_base(spec: str, ref: str, *, today: dt.date) -> Side:
    """The spec (with its includes) as it was at `ref`, read with `git show`."""
    root = git_root(spec)
    commit = resolve_ref(root, ref)
    spec_rel = os.path.relpath(os.path.realpath(spec), os.path.realpath(root)).replace(os.sep, "/")
    tmp = tempfile.mkdtemp(prefix="mlopsc-diff-")
    try:
        if not materialize(root, commit, spec_rel, tmp):
            return Side(ref, SideStatus.ABSENT)
        copy = os.path.join(tmp, *spec_rel.split("/"))
        return read_side(copy, ref, today=today, tmp=tmp, prefix=f"{ref}:")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def read_head(spec: str, *, today: dt.date) -> Side:
    """The spec in the working tree."""
    return read_side(spec, "working tree", today=today)
