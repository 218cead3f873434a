"""The semantic diff: what a spec change means, between a git ref and the working tree.

Both sides go through the pipeline `build` uses (continuing past failing governance rules,
which are part of what a change does) into Plans and rendered files; then they are compared
object by object (added, removed, each changed field old → new), rule outcome by rule
outcome, waiver by waiver, and file by file (by hash), and the approvals the change needs
are asked of the plans' owners and reviewers.
"""

from __future__ import annotations

import datetime as dt

from compiler.diff.render import render_json, render_markdown, render_text
from compiler.diff.report import DiffReport, compare_sides
from compiler.diff.sides import read_base, read_head

__all__ = ["DiffReport", "render_json", "render_markdown", "render_text", "semantic_diff"]


def semantic_diff(spec: str, ref: str, *, today: dt.date) -> DiffReport:
    """Compare the spec at `ref` (read from git) with the working tree's."""
    return compare_sides(read_base(spec, ref, today=today), read_head(spec, today=today))
