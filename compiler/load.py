"""YAML → plain data plus a source map, safely; `include:` resolution.

ruamel.yaml composes the node graph (YAML 1.2, so `on` stays a string and `a:b` in a flow list
is a scalar); we construct plain Python values ourselves so that we decide, per node, what is
allowed: standard tags only, no duplicate keys, a bound on alias expansion and nesting depth.
"""

from __future__ import annotations

import gc
import hashlib
import math
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from compiler import diagnostics as dx
from compiler import yaml12
from compiler.diagnostics import Sink, Span
from compiler.files import (
    FileProblem,
    IncludeProblem,
    expand_include,
    read_regular,
    repository_root,
)

Path = tuple[str | int, ...]

MAX_NODES = 1_000_000  # a real spec of 1,000 models has ~80,000 nodes
MAX_DEPTH = 64
MAX_BYTES = 16 * 1024 * 1024
# Bounds on what includes may add up to: a spec of 1,000 models is about 1 MiB in one file.
MAX_TOTAL_BYTES = 64 * 1024 * 1024
MAX_FILES = 2_000
MAX_INCLUDE_DEPTH = 16
LIST_SECTIONS = ("teams", "environments", "sources", "entities", "features", "models", "slos")

_STD = "tag:yaml.org,2002:"
_INT = re.compile(r"^[-+]?(0o[0-7_]+|0x[0-9a-fA-F_]+|[0-9][0-9_]*)$")


@dataclass
class SourceMap:
    """Where every key and value of the merged document came from."""

    keys: dict[Path, Span] = field(default_factory=dict)
    values: dict[Path, Span] = field(default_factory=dict)
    # String values holding a control character: the model stage allows newlines and tabs in
    # free text only, and refuses them everywhere else.
    controls: dict[Path, Span] = field(default_factory=dict)

    def span(self, path: Path, *, key: bool = False) -> Span:
        """The span of `path`'s key (or value), else of its nearest recorded ancestor."""
        probe = tuple(path)
        first, second = (self.keys, self.values) if key else (self.values, self.keys)
        if probe in first:
            return first[probe]
        if probe in second:
            return second[probe]
        # A missing child is best blamed on its parent's key (`training:`), which names it.
        probe = probe[:-1]
        while probe:
            if probe in self.keys:
                return self.keys[probe]
            if probe in self.values:
                return self.values[probe]
            probe = probe[:-1]
        return self.values.get((), Span("<spec>"))

    def key_span(self, path: Path) -> Span:
        return self.span(path, key=True)


@dataclass
class Document:
    """The loaded spec: merged data, where it came from, and the files read."""

    data: dict[str, Any]
    source_map: SourceMap
    files: list[tuple[str, bytes]]
    path: str

    @property
    def sha256(self) -> str:
        # Included files count by their path relative to the spec, so the hash does not
        # depend on the directory mlopsc runs in.
        digest = hashlib.sha256()
        base = os.path.dirname(self.path)
        for name, content in self.files:
            rel = os.path.relpath(name, base).replace(os.sep, "/")
            digest.update(rel.encode() + b"\0" + hashlib.sha256(content).digest())
        if len(self.files) == 1:
            return hashlib.sha256(self.files[0][1]).hexdigest()
        return digest.hexdigest()


class _Abort(Exception):
    """Stops constructing one file after a fatal, already reported, problem."""


class _Builder:
    def __init__(self, file: str, sink: Sink) -> None:
        self.file = file
        self.sink = sink
        self.count = 0
        self.smap = SourceMap()

    def span(self, node: Any) -> Span:
        mark = node.start_mark
        return Span(self.file, mark.line + 1, mark.column + 1)

    def build(self, node: Any, path: Path, depth: int) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            # Aliases carry no position of their own (the composer hands back the anchored
            # node), so blame the top-level key whose value blew up.
            at = self.smap.keys.get(path[:1]) if path else None
            self.sink.error(
                dx.ALIAS_BOMB,
                f"the document expands to more than {MAX_NODES:,} nodes",
                at or self.span(node),
                hint="remove the anchors and aliases that multiply each other",
            )
            raise _Abort
        if depth > MAX_DEPTH:
            self.sink.error(dx.TOO_DEEP, f"nesting deeper than {MAX_DEPTH} levels", self.span(node))
            raise _Abort
        values = self.smap.values
        if path not in values:
            mark = node.start_mark
            values[path] = Span(self.file, mark.line + 1, mark.column + 1)
        kind = node.id
        tag = node.tag or ""
        if kind == "scalar":
            value = self.scalar(node)
            if value.__class__ is str and dx.UNPRINTABLE.search(value):
                self.smap.controls[path] = self.span(node)
            return value
        if tag not in (_STD + "map", _STD + "seq", _STD + "omap") and not tag.startswith("?"):
            self.bad_tag(node)
        if kind == "sequence":
            return [self.build(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
        return self.mapping(node, path, depth)

    def mapping(self, node: Any, path: Path, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        seen: dict[str, Span] = {}
        merged: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _STD + "merge":
                merged.update(self.merge(value_node, path, depth))
                continue
            if key_node.id != "scalar":
                self.sink.error(
                    dx.WRONG_TYPE, "mapping keys must be plain strings", self.span(key_node)
                )
                continue
            key = key_node.value
            key_span = self.span(key_node)
            found = dx.UNPRINTABLE.search(key)
            if found:
                self.sink.error(
                    dx.CONTROL_CHAR,
                    f"key '{key}' holds {dx.char_name(found.group())}",
                    key_span,
                    hint="keys are names: letters, digits and punctuation only",
                )
                continue
            if key in seen:
                first = seen[key]
                self.sink.error(
                    dx.DUPLICATE_KEY,
                    f"duplicate key '{key}' (first at line {first.line})",
                    key_span,
                )
                continue
            seen[key] = key_span
            child = (*path, key)
            self.smap.keys[child] = key_span
            result[key] = self.build(value_node, child, depth + 1)
        for key, value in merged.items():
            result.setdefault(key, value)
        return result

    def merge(self, node: Any, path: Path, depth: int) -> dict[str, Any]:
        sources = node.value if node.id == "sequence" else [node]
        merged: dict[str, Any] = {}
        for item in sources:
            if item.id != "mapping":
                self.sink.error(dx.MERGE_KEY, "'<<' must merge a mapping", self.span(item))
                continue
            value = self.build(item, path, depth + 1)
            for key, inner in value.items():
                merged.setdefault(key, inner)
        return merged

    def bad_tag(self, node: Any) -> None:
        self.sink.error(
            dx.BAD_TAG,
            f"tag '{_short_tag(node.tag)}' is not allowed",
            self.span(node),
            hint="remove the tag; mlopsc reads plain YAML values only",
        )
        raise _Abort

    def scalar(self, node: Any) -> Any:
        tag = node.tag or ""
        text: str = node.value
        if tag in ("", "!", _STD + "str") or tag.startswith("?"):
            return text
        if tag == _STD + "null":
            return None
        if tag == _STD + "bool":
            return text.lower() == "true"
        if tag == _STD + "int":
            return self.integer(node, text)
        if tag == _STD + "float":
            return self.floating(node, text)
        if tag == _STD + "timestamp":
            return text  # validated (as a date) by the model
        self.bad_tag(node)
        return None

    def integer(self, node: Any, text: str) -> int | str:
        if not _INT.match(text):
            return text
        clean = text.replace("_", "")
        sign = -1 if clean.startswith("-") else 1
        body = clean.lstrip("+-")
        base = 8 if body.startswith("0o") else 16 if body.startswith("0x") else 10
        digits = body[2:] if base != 10 else body
        # Bounded before conversion: Python refuses to convert more than 4,300 decimal digits
        # and no consumer of the outputs (Kubernetes, JSON, Prometheus) holds more than 64 bits.
        value = sign * int(digits, base) if len(digits) <= 64 else None
        if value is None or not -(2**63) <= value < 2**63:
            self.sink.error(
                dx.OUT_OF_RANGE,
                f"the integer {_clip(text)} does not fit in 64 bits",
                self.span(node),
                hint="quote it if it is text",
            )
            raise _Abort
        return value

    def floating(self, node: Any, text: str) -> float | str:
        lowered = text.lower().replace("_", "")
        if lowered in (".inf", "+.inf"):
            return float("inf")
        if lowered == "-.inf":
            return float("-inf")
        if lowered == ".nan":
            return float("nan")
        try:
            value = float(lowered)
        except ValueError:
            return text
        if math.isinf(value):
            self.sink.error(
                dx.OUT_OF_RANGE,
                f"the number {_clip(text)} is too large for a 64-bit float",
                self.span(node),
                hint="quote it if it is text",
            )
            raise _Abort
        return value


def _clip(text: str) -> str:
    """A long literal shortened for a message."""
    return text if len(text) <= 24 else f"{text[:10]}…{text[-6:]} ({len(text)} characters)"


def _short_tag(tag: str) -> str:
    """A tag as the user wrote it: `!!python/object`, not `tag:yaml.org,2002:python/object`."""
    return "!!" + tag.removeprefix(_STD) if tag.startswith(_STD) else tag


def _display(path: str) -> str:
    rel = os.path.relpath(path)
    return rel if not rel.startswith("..") else os.path.normpath(path)


def _parse_error(exc: Exception, file: str) -> tuple[str, str, Span, str | None]:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = mark.line + 1 if mark is not None else 1
    column = mark.column + 1 if mark is not None else 1
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    message = f"{context}: {problem}" if context else str(problem)
    code = dx.TAB if "'\\t'" in message or "\t" in message else dx.YAML_SYNTAX
    hint = None
    if code == dx.TAB:
        message = "tab character where YAML allows only spaces"
    else:
        # The problem is found where parsing gets stuck, often a line after the real mistake;
        # the context mark says where the unfinished construct began.
        start = getattr(exc, "context_mark", None)
        if context and start is not None and (start.line, start.column) != (line - 1, column - 1):
            what = str(context).removeprefix("while parsing ").removeprefix("while scanning ")
            what = what.removeprefix("a ").removeprefix("an ")
            hint = f"the {what} began at line {start.line + 1}, column {start.column + 1}"
    return code, message, Span(file, line, column), hint


def _read(path: str, display: str, sink: Sink, at: Span | None) -> bytes | None:
    """The file's bytes; FileProblem for the spec itself (the CLI's exit 2), else a located error."""
    try:
        return read_regular(path, limit=MAX_BYTES)
    except FileProblem as exc:
        if at is None:
            raise
        sink.error(dx.INCLUDE_MISSING, f"cannot read '{display}': {exc.reason}", at)
        return None


def _compose(content: bytes, display: str, sink: Sink) -> tuple[Any, bool] | None:
    """The document's root node and whether it may hold aliases; None after reporting."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = content[: exc.start]
        line = before.count(b"\n") + 1
        column = exc.start - (before.rfind(b"\n") + 1) + 1
        sink.error(
            dx.ENCODING,
            f"byte 0x{content[exc.start]:02x} is not valid UTF-8",
            Span(display, line, column),
        )
        return None
    text = text.removeprefix("\ufeff")
    if not text.strip() or all(
        not line.strip() or line.lstrip().startswith("#") for line in text.splitlines()
    ):
        sink.error(dx.EMPTY, "the file is empty", Span(display))
        return None
    try:
        fast = _compose_fast(text)
    except yaml12.TooDeep as exc:
        mark = exc.mark
        sink.error(
            dx.TOO_DEEP,
            f"nesting deeper than {MAX_DEPTH} levels",
            Span(display, mark.line + 1, mark.column + 1),
        )
        return None
    if fast is not None:
        return fast
    from ruamel.yaml import YAML  # the reference parser: errors and 1.2-only syntax
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    yaml = YAML(typ="rt", pure=True)
    try:
        nodes = list(yaml.compose_all(text))
    except MarkedYAMLError as exc:
        code, message, span, hint = _parse_error(exc, display)
        sink.error(code, message, span, hint=hint)
        return None
    except YAMLError as exc:
        # The reader's errors (a character YAML forbids) carry a position, not a mark.
        position = getattr(exc, "position", None)
        span = Span(display)
        if isinstance(position, int) and 0 <= position <= len(text):
            line = text.count("\n", 0, position) + 1
            span = Span(display, line, position - (text.rfind("\n", 0, position) + 1) + 1)
        sink.error(dx.YAML_SYNTAX, dx.printable(str(exc).splitlines()[0]), span)
        return None
    except RecursionError:
        # Only when libyaml refused the file first (a syntax error, or YAML 1.2 it cannot
        # read) and the nesting is deeper than ruamel.yaml's recursive composer can go.
        sink.error(dx.TOO_DEEP, f"nesting deeper than {MAX_DEPTH} levels", Span(display))
        return None
    nodes = [n for n in nodes if n is not None and not _empty_document(n)]
    if not nodes:
        sink.error(dx.EMPTY, "the file holds no YAML document", Span(display))
        return None
    if len(nodes) > 1:
        # Point at the `---` that starts the second document, not wherever its content begins.
        line = nodes[1].start_mark.line
        lines = text.splitlines()
        marker = next(
            (i for i in range(min(line, len(lines) - 1), -1, -1) if lines[i].startswith("---")),
            line,
        )
        sink.error(
            dx.MULTI_DOC, "a spec file holds one YAML document", Span(display, marker + 1, 1)
        )
        return None
    return nodes[0], True


def _compose_fast(text: str) -> tuple[Any, bool] | None:
    """libyaml's C composer with a YAML 1.2 core-schema resolver (compiler.yaml12).

    About 20x faster than ruamel's pure-Python composer. Explicit tags are never re-resolved
    by a composer, so no text heuristic is needed; any problem, including 1.2 syntax libyaml
    refuses such as `[a:b]`, returns None and ruamel.yaml, the reference parser, reads the
    file and words the errors.
    """
    try:
        composed = yaml12.compose_all(text, max_depth=MAX_DEPTH)
    except yaml12.YAMLError:
        return None
    nodes = [n for n in composed if n is not None]
    if len(nodes) != 1 or _empty_document(nodes[0]):
        return None  # let ruamel word the error
    return nodes[0], composed.aliases > 0


def _empty_document(node: Any) -> bool:
    """A document with no content (`---` alone) composes to an empty, untagged null scalar."""
    return bool(node.id == "scalar" and node.value == "" and node.tag == _STD + "null")


def _expanded_size(node: Any, memo: dict[int, int], depth: int = 0) -> int:
    """Nodes `node` expands to with every alias followed, without expanding anything."""
    key = id(node)
    if key in memo:
        return memo[key]
    memo[key] = 0  # a node that contains itself is caught by the depth limit while building
    size = 1
    if depth <= MAX_DEPTH and node.id == "sequence":
        size += sum(_expanded_size(item, memo, depth + 1) for item in node.value)
    elif depth <= MAX_DEPTH and node.id == "mapping":
        size += sum(
            _expanded_size(k, memo, depth + 1) + _expanded_size(v, memo, depth + 1)
            for k, v in node.value
        )
    memo[key] = min(size, MAX_NODES + 1)
    return memo[key]


def _check_expansion(node: Any, builder: _Builder) -> bool:
    """False (after reporting) when aliases expand the document past MAX_NODES nodes.

    Sizes are counted per distinct node, so a 'billion laughs' file is refused in
    microseconds instead of being expanded until the budget runs out.
    """
    memo: dict[int, int] = {}
    total = 1
    for key_node, value_node in node.value:
        total += _expanded_size(key_node, memo) + _expanded_size(value_node, memo)
        if total > MAX_NODES:
            builder.sink.error(
                dx.ALIAS_BOMB,
                f"the document expands to more than {MAX_NODES:,} nodes",
                builder.span(key_node),
                hint="remove the anchors and aliases that multiply each other",
            )
            return False
    return True


def _load_file(
    path: str, display: str, sink: Sink, at: Span | None
) -> tuple[dict[str, Any], SourceMap, bytes] | None:
    content = _read(path, display, sink, at)
    if content is None:
        return None
    composed = _compose(content, display, sink)
    if composed is None:
        return None
    node, aliases = composed
    builder = _Builder(display, sink)
    if node.id != "mapping":
        sink.error(
            dx.NOT_MAPPING, f"the document is a {node.id}, not a mapping", builder.span(node)
        )
        return None
    if aliases and not _check_expansion(node, builder):
        return None  # without an alias, the builder's own node count is the bound
    try:
        data = builder.build(node, (), 0)
    except _Abort:
        return None
    except RecursionError:
        sink.error(dx.TOO_DEEP, "the document nests too deeply", Span(display))
        return None
    return data, builder.smap, content


def _shift(smap: SourceMap, into: SourceMap, offsets: dict[str, int]) -> None:
    tables = ((smap.keys, into.keys), (smap.values, into.values), (smap.controls, into.controls))
    for table_from, table_to in tables:
        for path, span in table_from.items():
            if not path:
                continue
            section = path[0]
            if section not in offsets:
                continue
            if len(path) >= 2 and isinstance(path[1], int):
                table_to[(section, path[1] + offsets[section], *path[2:])] = span
            elif len(path) == 1:
                table_to.setdefault(path, span)


def _expand(
    entry: Any,
    index: int,
    base_dir: str,
    base_display: str,
    root: str,
    smap: SourceMap,
    sink: Sink,
) -> list[tuple[str, str, Span]]:
    at = smap.values.get(("include", index), smap.key_span(("include",)))
    if not isinstance(entry, str) or not entry.strip():
        sink.error(dx.WRONG_TYPE, "an include entry is a file path or glob", at)
        return []
    try:
        matches = expand_include(entry, base_dir, root)
    except IncludeProblem as exc:
        code = dx.INCLUDE_TOO_BROAD if exc.too_broad else dx.INCLUDE_OUTSIDE
        hint = None if exc.too_broad else "includes stay inside the spec's repository"
        sink.error(code, str(exc), at, hint=hint)
        return []
    if not matches:
        sink.error(dx.INCLUDE_MISSING, f"include '{entry}' matches no file", at)
        return []
    display_dir = os.path.dirname(base_display)
    return [
        (m, os.path.normpath(os.path.join(display_dir, os.path.relpath(m, base_dir))), at)
        for m in matches
    ]


def _include(
    data: dict[str, Any],
    smap: SourceMap,
    path: str,
    display: str,
    sink: Sink,
    stack: tuple[str, ...],
    files: list[tuple[str, bytes]],
    root: str,
) -> None:
    """Append the list sections of every included file, recursively, to `data`."""
    entries = data.get("include")
    if entries is None:
        return
    if not isinstance(entries, list):
        sink.error(
            dx.WRONG_TYPE, "'include' is a list of file paths or globs", smap.span(("include",))
        )
        return
    base_dir = os.path.dirname(path)
    for index, entry in enumerate(entries):
        for real, shown, at in _expand(entry, index, base_dir, display, root, smap, sink):
            key = os.path.realpath(real)
            if key in stack:
                sink.error(dx.INCLUDE_CYCLE, f"'{shown}' includes itself through '{display}'", at)
                continue
            if len(stack) > MAX_INCLUDE_DEPTH:
                sink.error(
                    dx.INCLUDE_TOO_BROAD,
                    f"includes nest deeper than {MAX_INCLUDE_DEPTH} files at '{shown}'",
                    at,
                )
                return
            read = sum(len(content) for _, content in files)
            if read > MAX_TOTAL_BYTES or len(files) >= MAX_FILES:
                sink.error(
                    dx.INCLUDE_TOO_BROAD,
                    f"the spec and its includes exceed {len(files):,} files or "
                    f"{MAX_TOTAL_BYTES // 2**20} MiB at '{shown}'",
                    at,
                )
                return
            loaded = _load_file(real, shown, sink, at)
            if loaded is None:
                continue
            sub, sub_map, content = loaded
            files.append((shown, content))
            _include(sub, sub_map, real, shown, sink, (*stack, key), files, root)
            offsets: dict[str, int] = {}
            for section, value in sub.items():
                if section in ("include", "apiVersion", "kind"):
                    continue
                if section not in LIST_SECTIONS or not isinstance(value, list):
                    sink.error(
                        dx.INCLUDE_CONTENT,
                        f"an included file may only hold list sections, not '{section}'",
                        sub_map.key_span((section,)),
                        hint="allowed: " + ", ".join(LIST_SECTIONS),
                    )
                    continue
                target = data.setdefault(section, [])
                if not isinstance(target, list):
                    continue
                if (section,) not in smap.keys:
                    smap.keys[(section,)] = sub_map.key_span((section,))
                offsets[section] = len(target)
                target.extend(value)
            _shift(sub_map, smap, offsets)


@contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic garbage collection inside: building the spec makes a few hundred thousand
    small objects that all live on, and the collector would scan them again and again (a
    third of `validate`'s time on a 1,000-model spec). The caller's setting is restored."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        # What was built lives on: move it out of the collector's sight, or the first
        # collection after this would scan all of it (refcounting still frees it).
        gc.freeze()
        if enabled:
            gc.enable()


def load_spec(path: str, sink: Sink) -> Document | None:
    """Read a spec file and everything it includes; None after reporting when unreadable."""
    with paused_gc():
        return _load_spec(path, sink)


def _load_spec(path: str, sink: Sink) -> Document | None:
    display = _display(path)
    loaded = _load_file(path, display, sink, None)
    if loaded is None:
        return None
    data, smap, content = loaded
    files = [(display, content)]
    if "include" in data:
        # Includes resolve from the spec's real folder and stay in its repository.
        folder = os.path.realpath(os.path.dirname(os.path.abspath(path)))
        real = os.path.join(folder, os.path.basename(path))
        stack = (os.path.realpath(path),)
        _include(data, smap, real, display, sink, stack, files, repository_root(folder))
    return Document(data=data, source_map=smap, files=files, path=display)


def load_mapping(path: str, sink: Sink) -> tuple[dict[str, Any], SourceMap] | None:
    """Read another YAML file mlopsc consumes (mlops.lock.yaml) with the spec's rules; None
    after reporting a located problem, including a file that cannot be read."""
    display = _display(path)
    try:
        loaded = _load_file(path, display, sink, None)
    except FileProblem as exc:
        sink.error(dx.INCLUDE_MISSING, f"cannot read '{display}': {exc.reason}", Span(display))
        return None
    return None if loaded is None else (loaded[0], loaded[1])
