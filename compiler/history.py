"""The change history of the spec, as the documents show it: plain data, no git here.

`mlopsc report` reads it from git (compiler.diff.history) and hands it to the docs target;
`build` never includes it: a build committed with the spec would be stale as soon as that
commit exists (its own commit would change the history), and `mlopsc check` could never
pass (see docs/audit.md).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Commit:
    sha: str
    author: str
    date: str
    subject: str
    changes: str = ""  # what the commit did to the spec's meaning (as `mlopsc diff` says it)

    @property
    def short(self) -> str:
        return self.sha[:12]


@dataclass(frozen=True)
class History:
    """The commits that touched the spec, or why there are none to show."""

    commits: tuple[Commit, ...]
    note: str
    depth: int


NO_HISTORY = History(
    (),
    "Change history is left out of the build so that its output depends on the spec alone; "
    "run 'mlopsc report' in the repository to add it from git.",
    0,
)
