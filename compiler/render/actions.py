"""Escaping for CI languages: GitHub Actions, GitLab CI, POSIX shell and CODEOWNERS.

A spec string never becomes syntax in these languages. In workflows it is data in `env:`
(GitHub) or `variables:` (GitLab) and reaches shells as a quoted "$VAR"; the functions here
are the last line of defence for the value itself, after `validate` refused what cannot be
carried (compiler/meaning/ci.py).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable

# GitHub evaluates `${{ … }}` in nearly every string of a workflow (env values included).
# The expression `${{ '${{' }}` evaluates to the literal text `${{`.
_GITHUB_EXPRESSION = "${{"
_GITHUB_ESCAPED = "${{ '${{' }}"

# What no CI language can carry safely on one line: C0/C1 controls, DEL, line separators.
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def github_value(text: str) -> str:
    """A string GitHub Actions shows literally wherever it evaluates expressions."""
    return text.replace(_GITHUB_EXPRESSION, _GITHUB_ESCAPED)


def gitlab_variable(text: str) -> str:
    """A `variables:` value GitLab passes literally: `$` is written `$$`."""
    return text.replace("$", "$$")


def shell_word(text: str) -> str:
    """One POSIX shell word that the shell passes as exactly `text`."""
    return shlex.quote(text)


def shell_words(words: Iterable[str]) -> str:
    """POSIX shell words for an argument list, each passed as written."""
    return shlex.join(words)


def codeowners_path(path: str) -> str:
    """A CODEOWNERS pattern for a repository path: spaces and `#` backslash-escaped.

    A line break cannot be escaped in CODEOWNERS (it would start a new ownership line), so
    `validate` refuses such paths; reaching here with one is a bug.
    """
    if CONTROL.search(path):
        raise ValueError(f"a CODEOWNERS path cannot hold a control character: {path!r}")
    return re.sub(r"([\\ #\t])", r"\\\1", path)
