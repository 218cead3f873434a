"""YAML 1.2 (core schema) node composition on libyaml, through PyYAML's C parser.

ruamel.yaml's pure-Python round-trip scanner costs ~0.3 ms per line of spec; libyaml
composes the same node graph (same tags, same line/column marks) 20x faster. Only the
implicit resolution of plain scalars differs between YAML 1.1 and 1.2, so the resolver
below is the YAML 1.2 core schema: `on`, `yes`, `no` stay strings, `010` is decimal.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.resolver import BaseResolver

_STD = "tag:yaml.org,2002:"


class Core12Resolver(BaseResolver):
    """Implicit tags of the YAML 1.2 core schema (plus `<<` merge and dates)."""


# The YAML 1.2 implicit resolvers of ruamel.yaml's VersionedResolver, verbatim, in its
# order, so that both loaders tag every plain scalar alike (`=` stays a string).
_IMPLICIT = (
    ("bool", r"true|True|TRUE|false|False|FALSE", "tTfF"),
    (
        "float",
        r"""[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |[-+]?\.[0-9_]+(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN)""",
        "-+0123456789.",
    ),
    ("int", r"[-+]?0b[0-1_]+ |[-+]?0o?[0-7_]+ |[-+]?[0-9_]+ |[-+]?0x[0-9a-fA-F_]+", "-+0123456789"),
    ("merge", r"<<", "<"),
    ("null", r"~ |null|Null|NULL | ", ["~", "n", "N", ""]),
    (
        "timestamp",
        r"""[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]
        |[0-9][0-9][0-9][0-9] -[0-9][0-9]? -[0-9][0-9]?
        (?:[Tt]|[ \t]+)[0-9][0-9]?
        :[0-9][0-9] :[0-9][0-9] (?:\.[0-9]*)?
        (?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?""",
        "0123456789",
    ),
)
for _tag, _pattern, _first in _IMPLICIT:
    Core12Resolver.add_implicit_resolver(
        _STD + _tag, re.compile(rf"^(?:{_pattern})$", re.X), list(_first)
    )


# libyaml's parser where PyYAML was built with it, else PyYAML's pure-Python one.
_Parser: Any
try:
    import yaml.cyaml

    _Parser = getattr(yaml.cyaml, "CParser", None)
except ImportError:  # PyYAML built without libyaml
    _Parser = None


class _PyParser(
    yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser, yaml.composer.Composer
):
    def __init__(self, stream: str) -> None:
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        yaml.composer.Composer.__init__(self)


class _Composer(_Parser or _PyParser, Core12Resolver):  # type: ignore[misc]
    def __init__(self, stream: str) -> None:
        (_Parser or _PyParser).__init__(self, stream)
        Core12Resolver.__init__(self)


def compose_all(text: str) -> list[Any]:
    """Every document's root node; yaml.MarkedYAMLError on a syntax error."""
    loader = _Composer(text)
    try:
        nodes = []
        while loader.check_node():
            nodes.append(loader.get_node())
        return nodes
    finally:
        loader.dispose()


YAMLError = yaml.YAMLError
