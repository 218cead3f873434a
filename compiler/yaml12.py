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


class _PyParser(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser):
    def __init__(self, stream: str) -> None:
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)


class _Composer(_Parser or _PyParser, Core12Resolver):  # type: ignore[misc]
    def __init__(self, stream: str) -> None:
        (_Parser or _PyParser).__init__(self, stream)
        Core12Resolver.__init__(self)


YAMLError = yaml.YAMLError


class TooDeep(Exception):
    """The document nests deeper than allowed; `mark` is where the first too-deep node starts."""

    def __init__(self, mark: Any) -> None:
        super().__init__("too deep")
        self.mark = mark


class Node:
    """A composed node, with the attributes of PyYAML's and ruamel.yaml's nodes we read."""

    __slots__ = ("start_mark", "tag", "value")
    id = ""

    def __init__(self, tag: str, value: Any, start_mark: Any) -> None:
        self.tag = tag
        self.value = value
        self.start_mark = start_mark


class ScalarNode(Node):
    __slots__ = ()
    id = "scalar"


class SequenceNode(Node):
    __slots__ = ()
    id = "sequence"


class MappingNode(Node):
    __slots__ = ()
    id = "mapping"


_SCALAR_TAG = _STD + "str"
_RESOLVERS = Core12Resolver.yaml_implicit_resolvers


def _resolve(value: str) -> str:
    for tag, regexp in _RESOLVERS.get(value[:1], ()):
        if regexp.match(value):
            return str(tag)
    return _SCALAR_TAG


class Composed(list[Any]):
    """The documents' root nodes, and whether any alias was followed (only then can the
    document expand to more nodes than it holds)."""

    aliases = 0


def compose_all(text: str, *, max_depth: int) -> Composed:
    """Every document's root node; yaml.YAMLError on a syntax error, TooDeep past max_depth.

    The composer is a loop over parser events with an explicit stack, not a recursion, so a
    document nested 100,000 levels deep is refused at its 65th level instead of overflowing
    the C stack inside libyaml's recursive composer; it is also about 4x faster than it,
    because plain scalars are resolved once per distinct value.
    """
    parser = _Composer(text)
    events = yaml.events
    resolved: dict[str, str] = {}
    docs = Composed()
    anchors: dict[str, Node] = {}
    # Open collections, each with its children so far (mapping: key, value, key, ...).
    stack: list[tuple[Node, list[Node]]] = []
    root: Node | None = None
    try:
        while parser.check_event():
            event = parser.get_event()
            kind = type(event)
            node: Node
            if kind is events.ScalarEvent:
                tag = event.tag
                if tag is None or tag == "!":
                    if event.implicit[0]:
                        value = event.value
                        tag = resolved.get(value)
                        if tag is None:
                            tag = resolved[value] = _resolve(value)
                    else:
                        tag = _SCALAR_TAG
                node = ScalarNode(tag, event.value, event.start_mark)
            elif kind is events.SequenceStartEvent or kind is events.MappingStartEvent:
                tag = event.tag
                mapping = kind is events.MappingStartEvent
                if tag is None or tag == "!":
                    tag = _STD + ("map" if mapping else "seq")
                node = (MappingNode if mapping else SequenceNode)(tag, [], event.start_mark)
            elif kind is events.SequenceEndEvent or kind is events.MappingEndEvent:
                done, children = stack.pop()
                if kind is events.MappingEndEvent:
                    done.value.extend(zip(children[0::2], children[1::2], strict=True))
                else:
                    done.value.extend(children)
                continue
            elif kind is events.AliasEvent:
                target = anchors.get(event.anchor)
                if target is None:
                    raise yaml.composer.ComposerError(
                        None, None, f"found undefined alias {event.anchor!r}", event.start_mark
                    )
                docs.aliases += 1
                if stack:
                    stack[-1][1].append(target)
                else:
                    root = target
                continue
            elif kind is events.DocumentStartEvent:
                anchors = {}
                continue
            elif kind is events.DocumentEndEvent:
                docs.append(root)
                root = None
                continue
            else:  # stream start and end
                continue
            if len(stack) > max_depth:
                raise TooDeep(event.start_mark)
            anchor = event.anchor
            if anchor is not None:
                if anchor in anchors:
                    raise yaml.composer.ComposerError(
                        f"found duplicate anchor {anchor!r}; first occurrence",
                        anchors[anchor].start_mark,
                        "second occurrence",
                        event.start_mark,
                    )
                anchors[anchor] = node
            if stack:
                stack[-1][1].append(node)
            else:
                root = node
            if isinstance(node, SequenceNode | MappingNode):
                stack.append((node, []))
        return docs
    finally:
        parser.dispose()
