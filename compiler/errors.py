"""The exceptions that end a command, and the exit code each one means.

Commands return an exit code or raise; one handler in the CLI turns what they raise into a
message and an exit code (as pre-commit's error_handler.py does), so that no helper decides
an exit on its own:

    0  ok          1  the spec has errors (or outputs are stale)
    2  usage/I-O   3  a bug in mlopsc        130  interrupted
"""

from __future__ import annotations

OK = 0
INVALID = 1
USAGE = 2
BUG = 3
INTERRUPTED = 130


class UsageProblem(Exception):
    """Exit 2: a usage or I/O problem (no such file, not a regular file, a bad option value),
    said in one line."""


class Invalid(Exception):
    """Exit 1: the input is wrong in a way already reported (diagnostics were printed), or
    said in the message when there is one."""

    def __init__(self, message: str = "") -> None:
        super().__init__(message)


def exit_code(exc: BaseException) -> int:
    """The exit code an exception that ends a command means."""
    if isinstance(exc, Invalid):
        return INVALID
    if isinstance(exc, UsageProblem | OSError) and not isinstance(exc, BrokenPipeError):
        return USAGE  # an OSError that reaches the handler is an I/O problem: disk full, EACCES
    if isinstance(exc, BrokenPipeError):
        return OK  # the reader closed the pipe early (`mlopsc rules | head -1`): not an error
    if isinstance(exc, KeyboardInterrupt):
        return INTERRUPTED
    return BUG
