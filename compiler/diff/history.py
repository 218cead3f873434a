"""The spec's change history from git, for `mlopsc report`: commit, author, date, subject, and
what each commit did to the spec's meaning, newest first.

The result depends only on the repository's commits (not on the clock, the user's git config
or the working directory), so one repository state always gives the same history.
"""

from __future__ import annotations

import os
import shutil
import tempfile

from compiler.diagnostics import Sink
from compiler.diff.compare import Action, Json, compare_objects, data_snapshot, show
from compiler.gitspec import GitProblem, git_root, git_text, materialize
from compiler.history import Commit, History

DEFAULT_DEPTH = 20
_SEP = "\x1f"
_END = "\x1e"


def spec_history(
    spec: str, *, includes: tuple[str, ...] = (), depth: int = DEFAULT_DEPTH
) -> History:
    """The last `depth` commits that touched the spec file or its included files."""
    if depth <= 0:
        return History((), "Change history was not requested (depth 0).", depth)
    folder = os.path.dirname(os.path.abspath(spec))
    if git_text(folder, "rev-parse", "--is-inside-work-tree") is None:
        return History(
            (), "The spec is not in a git repository, so no change history is shown.", depth
        )
    top = (git_text(folder, "rev-parse", "--show-toplevel") or "").strip()
    paths = [os.path.relpath(os.path.abspath(spec), top)]
    rel_folder = os.path.relpath(folder, top)
    for pattern in includes:
        paths.append(":(glob)" + os.path.normpath(os.path.join(rel_folder, pattern)))
    fmt = _SEP.join(("%H", "%an", "%as", "%s")) + _END
    out = git_text(
        top,
        *("log", "--no-color", "--no-show-signature", f"-n{depth}", f"--format={fmt}", "--"),
        *paths,
    )
    if out is None:
        return History((), "The spec's folder is a git repository with no commits yet.", depth)
    commits = []
    seen: dict[str, dict[str, Json] | None] = {}  # a commit's spec is read once, not per side
    for record in out.split(_END):
        fields = record.strip("\n").split(_SEP)
        if len(fields) == 4:
            sha, author, date, subject = fields
            changes = commit_changes(spec, sha, cache=seen)
            commits.append(Commit(sha, author, date, subject, changes))
    if not commits:
        return History((), "No commit touches the spec yet: it has never been committed.", depth)
    more = "" if len(commits) < depth else f" (the last {depth}; older commits are left out)"
    return History(tuple(commits), f"Commits that changed the spec, newest first{more}.", depth)


def _data_at(
    root: str, ref: str, spec_rel: str, cache: dict[str, dict[str, Json] | None]
) -> dict[str, Json] | None:
    """The spec's document (includes merged) at a commit, or None when absent or unreadable."""
    sha = (git_text(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}") or "").strip()
    if not sha:
        return None
    if sha not in cache:
        cache[sha] = _read_at(root, sha, spec_rel)
    return cache[sha]


def _read_at(root: str, sha: str, spec_rel: str) -> dict[str, Json] | None:
    from compiler.load import load_spec

    tmp = tempfile.mkdtemp(prefix="mlopsc-history-")
    try:
        if not materialize(root, sha, spec_rel, tmp):
            return None
        doc = load_spec(os.path.join(tmp, *spec_rel.split("/")), Sink())
        return doc.data if doc is not None else None
    except GitProblem:
        return None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def commit_changes(
    spec: str,
    commit: str,
    *,
    limit: int = 6,
    cache: dict[str, dict[str, Json] | None] | None = None,
) -> str:
    """What one commit did to the spec, in one line, as `mlopsc diff` names changes. The
    spec as written is compared (no validation per commit: history must stay cheap)."""
    try:
        root = git_root(spec)
    except GitProblem:
        return ""
    spec_rel = os.path.relpath(os.path.abspath(spec), root).replace(os.sep, "/")
    known = {} if cache is None else cache
    old = _data_at(root, f"{commit}^", spec_rel, known)
    new = _data_at(root, commit, spec_rel, known)
    if new is None:
        return ""
    if old is None:
        return "spec created"
    changes = compare_objects(data_snapshot(old), data_snapshot(new))
    if not changes:
        return "no change in meaning"
    parts = []
    for c in changes[:limit]:
        if c.action is Action.CHANGED and c.fields:
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
