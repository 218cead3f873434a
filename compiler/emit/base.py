"""The values emit works with: problems, findings and what a build did."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from compiler.artifact import Artifact

__all__ = ["Artifact", "EmitError", "Finding", "Problem", "Written"]

OWNERSHIP = "MLC401"  # a path mlopsc may not take: exit 1
IO_FAILED = "MLC406"  # the file system said no: exit 2


@dataclass(frozen=True)
class Problem:
    """Why a build left the output folder as it was, about one path relative to OUT."""

    code: str  # OWNERSHIP or IO_FAILED
    path: str  # "" for OUT itself
    message: str


class EmitError(Exception):
    """A build or check that could not go ahead; the output folder is as it was."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        ordered = sorted(set(problems), key=lambda p: (p.path, p.code, p.message))
        super().__init__("; ".join(p.message for p in ordered))
        self.problems = ordered

    @property
    def io(self) -> bool:
        """An I/O problem (exit 2) rather than a path mlopsc may not take (exit 1)."""
        return any(p.code == IO_FAILED for p in self.problems)

    @property
    def code(self) -> str:
        return self.problems[0].code

    @property
    def path(self) -> str:
        return self.problems[0].path


def io_error(path: str, action: str, exc: OSError) -> EmitError:
    """An I/O problem with the path and the operating system's message."""
    detail = exc.strerror or str(exc)
    return EmitError([Problem(IO_FAILED, path, f"could not {action} {path or '.'}: {detail}")])


@dataclass(frozen=True)
class Finding:
    """One difference between the output folder and what build would write."""

    # stale | missing | edited | extra (listed in the lock, no longer generated) |
    # unknown (not written by mlopsc, in a folder it generates) | blocked (not a regular file
    # where mlopsc writes one) | leftover (of an interrupted build)
    kind: str
    path: str


@dataclass(frozen=True)
class Written:
    """What a build did to the output folder."""

    changed: int
    removed: list[str]
    edited: list[str] = field(default_factory=list)  # taken over with --force
    unknown: list[str] = field(default_factory=list)  # files in generated folders, kept
    recovered: bool = False  # an interrupted build was cleaned up
