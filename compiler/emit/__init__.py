"""Emit: artifacts to disk with a lock file, and `check` against it.

Only this package touches the output folder. `write_outputs` (write.py) stages every new file,
records its intent in a journal, moves the files into place and renames the lock file last;
`check_outputs` (check.py) compares OUT with what build would write; fsroot.py walks paths
below OUT without following links; state.py reads and writes the lock and the journal.
"""

from __future__ import annotations

from compiler.emit.base import Artifact, EmitError, Finding, Problem, Written
from compiler.emit.check import check_expected, check_outputs, expected_lock_sha256
from compiler.emit.fsroot import StatusMemo
from compiler.emit.state import LOCK, LockInfo, lock_content
from compiler.emit.write import lock_entries, write_outputs

__all__ = [
    "LOCK",
    "Artifact",
    "EmitError",
    "Finding",
    "LockInfo",
    "Problem",
    "StatusMemo",
    "Written",
    "check_expected",
    "check_outputs",
    "expected_lock_sha256",
    "lock_content",
    "lock_entries",
    "write_outputs",
]
