"""Python source of the Feast repository's features.py: literals and ruff-format layout.

Every call and collection is exploded one item per line with a magic trailing comma, which is
ruff-format's own layout, so the file is format-clean without running a formatter at build
time. Text from the spec only ever becomes a string literal (`py_str`); code comes from
`Raw`, which this package writes from validated identifiers.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

INDENT = "    "


def py_str(value: str) -> str:
    """A Python string literal for any text, quoted the way ruff-format prefers."""
    quote = "'" if value.count('"') > value.count("'") else '"'
    out = []
    for ch in value:
        if ch == "\\":
            out.append("\\\\")
        elif ch == quote:
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif not ch.isprintable():
            code = ord(ch)
            out.append(
                f"\\x{code:02x}"
                if code < 0x100
                else f"\\u{code:04x}"
                if code < 0x10000
                else f"\\U{code:08x}"
            )
        else:
            out.append(ch)
    return quote + "".join(out) + quote


def py_docstring(value: str) -> str:
    """A docstring: triple-quoted when the text needs no escape, else a plain literal."""
    if value.isprintable() and '"' not in value and "\\" not in value:
        return f'"""{value}"""'
    return py_str(value)


class Code:
    """Python source in ruff-format layout: exploded calls and collections."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, line: str = "", depth: int = 0) -> None:
        self.lines.append(INDENT * depth + line if line else "")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def value_lines(value: Any, depth: int) -> list[str]:
    """An expression, exploded over lines when it is a collection or a call."""
    if isinstance(value, (Call, Subscript)):
        return value.lines(depth)
    if isinstance(value, Raw):
        return [value.code]
    if isinstance(value, str):
        return [py_str(value)]
    if isinstance(value, bool):
        return ["True" if value else "False"]
    if isinstance(value, int):
        return [str(value)]
    if isinstance(value, list):
        if not value:
            return ["[]"]
        lines = ["["]
        for item in value:
            inner = value_lines(item, depth + 1)
            lines.extend(_indent([*inner[:-1], inner[-1] + ","], depth + 1))
        return [*lines, INDENT * depth + "]"]
    if isinstance(value, dict):
        if not value:
            return ["{}"]
        lines = ["{"]
        for key, item in value.items():
            inner = value_lines(item, depth + 1)
            inner[0] = f"{py_str(key)}: {inner[0]}"
            lines.extend(_indent([*inner[:-1], inner[-1] + ","], depth + 1))
        return [*lines, INDENT * depth + "}"]
    raise TypeError(f"no Python literal for {type(value).__name__}")


def _indent(lines: list[str], depth: int) -> list[str]:
    """Indent the first line; later lines already carry their own indentation."""
    return [INDENT * depth + lines[0], *lines[1:]]


class Raw:
    """Code written by this module (a name or a call), never text from the spec."""

    def __init__(self, code: str) -> None:
        self.code = code


class Subscript:
    """`var[["a", "b"]]`: a feature view projected onto some of its fields, exploded."""

    def __init__(self, var: str, names: list[str]) -> None:
        self.var = var
        self.names = names

    def lines(self, depth: int) -> list[str]:
        inner = value_lines(self.names, depth + 1)
        return [f"{self.var}[", INDENT * (depth + 1) + inner[0], *inner[1:], INDENT * depth + "]"]


class Call:
    """`func(key=value, ...)` with keyword arguments, exploded one per line."""

    def __init__(self, func: str, kwargs: Iterable[tuple[str, Any]]) -> None:
        self.func = func
        self.kwargs = [(k, v) for k, v in kwargs if v is not None]

    def lines(self, depth: int) -> list[str]:
        if not self.kwargs:
            return [f"{self.func}()"]
        lines = [f"{self.func}("]
        for key, value in self.kwargs:
            inner = value_lines(value, depth + 1)
            inner[0] = f"{key}={inner[0]}"
            lines.extend(_indent([*inner[:-1], inner[-1] + ","], depth + 1))
        return [*lines, INDENT * depth + ")"]
