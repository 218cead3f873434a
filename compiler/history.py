"""Change history of the spec from git: commit, author, date and subject, newest first.

The result depends only on the repository's commits (not on the clock, the user's git config
or the working directory), so one repository state always gives the same history. `build`
never includes it: a build committed with the spec would be stale as soon as that commit
exists (its own commit would change the history), and `mlopsc check` could never pass. The
history is part of `mlopsc report` only (see docs/audit.md).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from typing import Any

from compiler.diagnostics import Sink
from compiler.diff import compare_objects, show
from compiler.gitspec import GitProblem, git_ok, git_root, materialize

DEFAULT_DEPTH = 20
_SEP = "\x1f"
_END = "\x1e"


@dataclass(frozen=True)
class Commit:
    sha: str
    author: str
    date: str
    subject: str
    changes: str = ""  # what the commit did to the spec's meaning (compiler.diff)

    @property
    def short(self) -> str:
        return self.sha[:12]


@dataclass(frozen=True)
class History:
    """The commits that touched the spec, or why there are none to show."""

    commits: tuple[Commit, ...]
    note: str
    depth: int


def _git(args: list[str], cwd: str) -> str | None:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("GIT_") or key in ("GIT_DIR", "GIT_WORK_TREE")
    }
    # User and system config must not change the output (log.showSignature, i18n, mailmap).
    env.update({"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "LC_ALL": "C"})
    try:
        done = subprocess.run(
            ["git", "-c", "core.quotePath=false", *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.decode("utf-8", errors="replace")


def spec_history(
    spec: str, *, includes: list[str] | None = None, depth: int = DEFAULT_DEPTH
) -> History:
    """The last `depth` commits that touched the spec file or its included files."""
    if depth <= 0:
        return History((), "Change history was not requested (depth 0).", depth)
    folder = os.path.dirname(os.path.abspath(spec))
    if _git(["rev-parse", "--is-inside-work-tree"], folder) is None:
        return History(
            (), "The spec is not in a git repository, so no change history is shown.", depth
        )
    top = (_git(["rev-parse", "--show-toplevel"], folder) or "").strip()
    paths = [os.path.relpath(os.path.abspath(spec), top)]
    rel_folder = os.path.relpath(folder, top)
    for pattern in includes or []:
        paths.append(":(glob)" + os.path.normpath(os.path.join(rel_folder, pattern)))
    fmt = _SEP.join(("%H", "%an", "%as", "%s")) + _END
    out = _git(
        ["log", "--no-color", "--no-show-signature", f"-n{depth}", f"--format={fmt}", "--", *paths],
        top,
    )
    if out is None:
        return History((), "The spec's folder is a git repository with no commits yet.", depth)
    commits = []
    for record in out.split(_END):
        fields = record.strip("\n").split(_SEP)
        if len(fields) == 4:
            sha, author, date, subject = fields
            commits.append(Commit(sha, author, date, subject, commit_changes(spec, sha)))
    if not commits:
        return History((), "No commit touches the spec yet: it has never been committed.", depth)
    more = "" if len(commits) < depth else f" (the last {depth}; older commits are left out)"
    return History(tuple(commits), f"Commits that changed the spec, newest first{more}.", depth)


def commit_changes(spec: str, commit: str, *, limit: int = 6) -> str:
    """What one commit did to the spec, in one line, as `mlopsc diff` sees it (for history)."""
    try:
        root = git_root(spec)
    except GitProblem:
        return ""
    spec_rel = os.path.relpath(os.path.abspath(spec), root).replace(os.sep, "/")
    sides: list[dict[str, Any] | None] = []
    for ref in (f"{commit}^", commit):
        tmp = tempfile.mkdtemp(prefix="mlopsc-history-")
        try:
            parent_exists = git_ok(root, "rev-parse", "--verify", "--quiet", ref)
            if not parent_exists or not materialize(root, ref, spec_rel, tmp):
                sides.append(None)
                continue
            from compiler.load import load_spec

            doc = load_spec(os.path.join(tmp, *spec_rel.split("/")), Sink())
            sides.append(doc.data if doc is not None else None)
        except GitProblem:
            sides.append(None)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    old, new = sides
    if new is None:
        return ""
    if old is None:
        return "spec created"
    changes = compare_objects(old, new)
    if not changes:
        return "no change in meaning"
    parts = []
    for c in changes[:limit]:
        if c.action == "changed" and c.fields:
            first = c.fields[0]
            more = f" and {len(c.fields) - 1} more" if len(c.fields) > 1 else ""
            parts.append(
                f"{c.kind} {c.name}: {first.path} {show(first.old)} → {show(first.new)}{more}"
            )
        else:
            parts.append(f"{c.kind} {c.name} {c.action}")
    if len(changes) > limit:
        parts.append(f"{len(changes) - limit} more")
    return "; ".join(parts)
