"""The one YAML serializer of machine outputs: block style, fixed indentation, no anchors.

PyYAML's emitter spends most of its time in its Python representer and resolver (about 40 s
for the 7,000 objects of 1,000 models); this writer handles the only data mlopsc emits (dicts,
lists, str, int, float, bool, None) in a single pass. Strings are written plain only when both
YAML 1.1 and 1.2 readers take them back as the same string; otherwise single-quoted, or, when
they hold line breaks or control characters, double-quoted with JSON escapes, which YAML reads
identically.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

# Conservative: plain only for strings built from these characters, with no ': ' or ' #',
# not starting with an indicator, and not looking like a number, date, bool or null.
_PLAIN = re.compile(r"^[A-Za-z0-9_/$(][A-Za-z0-9_./@%+=:$(),-]*( [A-Za-z0-9_./@%+=:$(),-]+)*$")
_NUMBERISH = re.compile(r"^[-+.]?[0-9][0-9a-fA-FxXoO_.:eE+-]*$")
_RESERVED = {
    "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
    "true", "True", "TRUE", "false", "False", "FALSE",
    "on", "On", "ON", "off", "Off", "OFF",
    "null", "Null", "NULL", "~",
}  # fmt: skip


# Characters YAML does not allow raw in a double-quoted scalar (json.dumps escapes C0 itself).
_UNPRINTABLE = re.compile("[\x7f-\x9f\u2028\u2029\ud800-\udfff\ufeff\ufffe\uffff]")


# Anything but printable characters: such strings are double-quoted with escapes.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufeff\ufffe\uffff]")


@lru_cache(maxsize=65536)
def scalar_str(text: str) -> str:
    """A string as a YAML scalar that reads back as exactly this string."""
    if (
        _PLAIN.match(text)
        and text not in _RESERVED
        and not _NUMBERISH.match(text)
        and not text.endswith(":")
        and ": " not in text
        and " #" not in text
        and "{{" not in text
    ):
        return text
    if "\n" not in text and "\r" not in text and not _CONTROL.search(text):
        return "'" + text.replace("'", "''") + "'"
    return _UNPRINTABLE.sub(
        lambda m: f"\\u{ord(m.group()):04x}", json.dumps(text, ensure_ascii=False)
    )


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return scalar_str(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        text = repr(value)
        if "." not in text and "e" in text:
            text = text.replace("e", ".0e")
        return text
    raise TypeError(f"cannot write {type(value).__name__} as YAML")


_LITERAL_BAD = re.compile(r"[^\n\t\x20-\x7e\u00a0-\ud7ff\ue000-\ufffd]|\r|[ \t]\n|[ \t]$")


def _literal(text: str, indent: int) -> list[str] | None:
    """Lines of a `|` block for a multi-line string, or None when a quoted string is safer."""
    if "\n" not in text or _LITERAL_BAD.search(text) or text.startswith((" ", "\t", "\n")):
        return None
    body = text[:-1] if text.endswith("\n") else text
    if body.endswith("\n"):
        return None  # several trailing newlines need `|+`; quoting is simpler
    pad = " " * indent
    indicator = "|" if text.endswith("\n") else "|-"
    return [indicator, *[(pad + line) if line else "" for line in body.split("\n")]]


def _member(head: str, item: Any, indent: int, out: list[str]) -> None:
    """Append a mapping member: `head` (`key:` with its indentation) and its value, whose
    nested mapping is at `indent` + 2 and nested sequence at `indent`."""
    kind = type(item)
    if kind is str or (kind not in (dict, list) and isinstance(item, str)):
        if "\n" in item and (lines := _literal(item, indent + 2)):
            out.append(f"{head} {lines[0]}")
            out.extend(lines[1:])
        else:
            out.append(f"{head} {scalar_str(item)}")
    elif kind is dict or isinstance(item, dict):
        if item:
            out.append(head)
            _mapping(item, indent + 2, out, " " * (indent + 2))
        else:
            out.append(f"{head} {{}}")
    elif kind is list or isinstance(item, list):
        if item:
            out.append(head)
            _sequence(item, indent, out)
        else:
            out.append(f"{head} []")
    else:
        out.append(f"{head} {_scalar(item)}")


def _mapping(value: dict[Any, Any], indent: int, out: list[str], lead: str) -> None:
    """Append a non-empty mapping at `indent`; its first line starts with `lead` (the
    indentation, or the indentation and `- ` of the sequence item it is)."""
    pad = " " * indent
    for key, item in value.items():
        _member(f"{lead}{scalar_str(key if type(key) is str else str(key))}:", item, indent, out)
        lead = pad


def _sequence(value: list[Any], indent: int, out: list[str]) -> None:
    """Append a non-empty sequence whose items start at `indent`."""
    pad = " " * indent
    for item in value:
        kind = type(item)
        if kind is str or (kind not in (dict, list) and isinstance(item, str)):
            if "\n" in item and (lines := _literal(item, indent + 2)):
                out.append(f"{pad}- {lines[0]}")
                out.extend(lines[1:])
            else:
                out.append(f"{pad}- {scalar_str(item)}")
        elif (kind is dict or isinstance(item, dict)) and item:
            _mapping(item, indent + 2, out, f"{pad}- ")
        elif (kind is list or isinstance(item, list)) and item:
            inner: list[str] = []
            _sequence(item, indent + 2, inner)
            out.append(f"{pad}- {inner[0][indent + 2 :]}")
            out.extend(inner[1:])
        else:
            out.append(f"{pad}- {_inline(item)}")


def _block(value: Any, indent: int, out: list[str]) -> None:
    """Append the lines of a non-empty dict or list at `indent`."""
    if isinstance(value, dict):
        _mapping(value, indent, out, " " * indent)
    else:
        _sequence(value, indent, out)


def _inline(value: Any) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return _scalar(value)


def dump(data: Any) -> str:
    """One YAML document (without the `---` separator)."""
    if isinstance(data, dict | list) and data:
        lines: list[str] = []
        _block(data, 0, lines)
        return "\n".join(lines) + "\n"
    return _inline(data) + "\n"


def yaml_text(documents: Iterable[Any], *, header: str = "") -> bytes:
    """Several YAML documents in one file, with a fixed style."""
    return (header + "---\n".join(dump(doc) for doc in documents)).encode("utf-8")


def json_text(data: Any) -> bytes:
    """JSON with a fixed style: two-space indent, key order as given, UTF-8, final newline.

    The same bytes as `json.dumps(data, indent=2, ensure_ascii=False)`, whose indenting
    encoder is pure Python and walks each value through several generators; this one builds
    the lines directly (a third of the time for the dashboards of 1,000 models) and hands any
    value it does not know (tuples, non-string keys) to json.dumps."""
    try:
        out: list[str] = []
        _json(data, "\n", out)
        text = "".join(out)
    except _NotPlain:
        text = json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False)
    return (text + "\n").encode("utf-8")


class _NotPlain(Exception):
    """A value json_text's fast path does not write; json.dumps does instead."""


_JSON_STR = json.encoder.encode_basestring  # what json.dumps(ensure_ascii=False) uses


def _json_float(value: float) -> str:
    if value != value:
        return "NaN"
    if value in (math.inf, -math.inf):
        return "Infinity" if value > 0 else "-Infinity"
    return float.__repr__(value)


def _json(value: Any, newline: str, out: list[str]) -> None:
    """Append `value` as indented JSON; `newline` is a line break plus the current indent."""
    kind = type(value)
    if kind is str:
        out.append(_JSON_STR(value))
    elif kind is dict:
        if not value:
            out.append("{}")
            return
        inner = newline + "  "
        first = True
        for key, item in value.items():
            if type(key) is not str:
                raise _NotPlain
            out.append(("{" if first else ",") + inner + _JSON_STR(key) + ": ")
            first = False
            _json(item, inner, out)
        out.append(newline + "}")
    elif kind is list:
        if not value:
            out.append("[]")
            return
        inner = newline + "  "
        first = True
        for item in value:
            out.append(("[" if first else ",") + inner)
            first = False
            _json(item, inner, out)
        out.append(newline + "]")
    elif kind is bool:
        out.append("true" if value else "false")
    elif kind is int:
        out.append(int.__repr__(value))
    elif kind is float:
        out.append(_json_float(value))
    elif value is None:
        out.append("null")
    else:
        raise _NotPlain
