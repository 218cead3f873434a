"""The front half of the compiler: load → model → meaning → governance, stopping on errors."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
from dataclasses import dataclass, field

from compiler.diagnostics import Sink
from compiler.errors import UsageProblem
from compiler.governance import Governance, check_waiver_names, evaluate_governance
from compiler.load import Document, load_spec
from compiler.meaning import Index, check_meaning
from compiler.registry.lock import Lock, read_lock
from compiler.spec.models import Project
from compiler.spec.validate import validate_project


@dataclass
class Checked:
    """A spec that went through every front-end stage."""

    document: Document
    project: Project
    index: Index
    governance: Governance
    lock: Lock = field(default_factory=Lock)  # mlops.lock.yaml beside the spec


class DateProblem(UsageProblem):
    """SOURCE_DATE_EPOCH is malformed, or the spec's commit date cannot be known (exit 2)."""


def _epoch_date() -> dt.date | None:
    """The UTC date of SOURCE_DATE_EPOCH (reproducible-builds.org), None when unset."""
    raw = os.environ.get("SOURCE_DATE_EPOCH", "")
    if not raw:
        return None
    try:
        if not re.fullmatch(r"[0-9]{1,18}", raw):
            raise ValueError(raw)
        return dt.datetime.fromtimestamp(int(raw), tz=dt.UTC).date()
    except (ValueError, OverflowError, OSError):
        raise DateProblem(
            f"SOURCE_DATE_EPOCH must be a number of seconds since 1970-01-01 UTC, not {raw[:40]!r}"
        ) from None


def today() -> dt.date:
    """Today in UTC, or the date of SOURCE_DATE_EPOCH when set (reproducible builds)."""
    return _epoch_date() or dt.datetime.now(dt.UTC).date()


def _git(args: list[str], cwd: str) -> str | None:
    """git's output, or None when git is missing, fails or cwd is not in a work tree."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update({"GIT_CONFIG_NOSYSTEM": "1", "LC_ALL": "C", "GIT_OPTIONAL_LOCKS": "0"})
    try:
        done = subprocess.run(
            ["git", "-c", "core.fsmonitor=false", *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.decode("utf-8", "replace") if done.returncode == 0 else None


def as_of(spec: str) -> dt.date | None:
    """The date documents give for "rules evaluated as of": a function of the spec's git
    history, never of the clock or the time zone where build runs (all in UTC).

    SOURCE_DATE_EPOCH when set; else the author date of the spec's last commit (the author
    date survives rebases); else, for a spec with uncommitted changes, today, the date its
    commit will carry; else (no git, not in a repository) None, and documents leave it out.
    A shallow clone that does not reach the spec's last commit cannot date it: DateProblem."""
    epoch = _epoch_date()
    if epoch is not None:
        return epoch
    folder, name = os.path.split(os.path.abspath(spec))
    status = _git(["status", "--porcelain", "--", name], folder)
    if status is None:
        return None
    if status.strip():
        return today()
    found = (_git(["log", "-1", "--format=%H %at", "--", name], folder) or "").split()
    if len(found) != 2 or not found[1].isdigit():
        return None  # not tracked (ignored)
    if _git(["rev-parse", "--is-shallow-repository"], folder) == "true\n":
        shallow = _git(["rev-parse", "--git-path", "shallow"], folder) or ""
        path = os.path.join(folder, shallow.strip())
        try:
            with open(path, encoding="ascii") as handle:
                boundary = set(handle.read().split())
        except OSError:
            boundary = set()
        if found[0] in boundary:
            raise DateProblem(
                f"cannot date {spec}: its last commit lies beyond this shallow clone; fetch the "
                "whole history (actions/checkout fetch-depth: 0, GitLab GIT_DEPTH: 0) or set "
                "SOURCE_DATE_EPOCH"
            )
    return dt.datetime.fromtimestamp(int(found[1]), tz=dt.UTC).date()


def check_spec(path: str, sink: Sink, *, on: dt.date | None = None) -> Checked | None:
    """Run every front-end stage; None when a stage reported errors."""
    document = load_spec(path, sink)
    if document is None or sink.has_errors:
        return None
    return check_document(document, sink, on=on)


def check_document(
    document: Document, sink: Sink, *, on: dt.date | None = None, keep_going: bool = False
) -> Checked | None:
    """The stages after loading; None when one reported errors. With keep_going, failing
    governance rules do not stop it (`diff`: a rule that fails is part of what a change does)."""
    project = validate_project(document, sink)
    if project is None:
        return None
    lock = read_lock(document.path, sink)
    if lock is None:
        return None
    index = check_meaning(project, document.source_map, sink, lock=lock)
    check_waiver_names(index, document.source_map, sink)
    if sink.has_errors:
        return None
    governance = evaluate_governance(index, document.source_map, sink, today=on or today())
    if sink.has_errors and not keep_going:
        return None
    return Checked(document, project, index, governance, lock)
