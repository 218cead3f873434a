"""Escaping for Groovy, the language of a Jenkinsfile.

Spec text only ever lands in single-quoted Groovy strings, which Groovy never interpolates
(`$` is literal there); the only syntax left is the backslash and the quote itself.
"""

from __future__ import annotations

import re

_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def _control(char: str) -> str:
    # Groovy reads \uXXXX before it reads strings: a CR that way would end the literal.
    return "\\r" if char == "\r" else f"\\u{ord(char):04x}"


def _escape(text: str) -> str:
    text = text.replace("\\", "\\\\").replace("'", "\\'")
    return _CONTROL.sub(lambda m: _control(m.group()), text)


def groovy_string(text: str) -> str:
    """A single-quoted Groovy string literal whose value is exactly `text` (one line)."""
    return "'" + _escape(text).replace("\n", "\\n").replace("\t", "\\t") + "'"


def groovy_block(text: str) -> str:
    """A triple-single-quoted Groovy string literal whose value is exactly `text`: for
    scripts, which then read as written, one line per line."""
    return "'''" + _escape(text).replace("\t", "\\t") + "'''"
