"""Property tests: whatever a mutated spec looks like, the front end answers with located
diagnostics (exit 0 or 1), never an exception (exit 3)."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from helpers import ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler.diagnostics import Sink
from compiler.governance import check_waiver_names, evaluate_governance
from compiler.load import Document, load_spec
from compiler.meaning import check_meaning
from compiler.pipeline import check_spec
from compiler.spec.validate import validate_project

EXAMPLES = sorted((ROOT / "examples").glob("*/mlops.yaml"))
TEXTS = [p.read_text(encoding="utf-8") for p in EXAMPLES if "include:" not in p.read_text()]
TODAY = dt.date(2027, 1, 1)
SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def assert_located(sink: Sink) -> None:
    for d in sink.items:
        assert d.span.file and d.span.line >= 1 and d.span.column >= 1, d
        assert d.message


def stages(doc: Document, sink: Sink) -> None:
    """check_spec after loading, on data that may not match its source map any more."""
    project = validate_project(doc, sink)
    if project is None:
        return
    index = check_meaning(project, doc.source_map, sink)
    check_waiver_names(index, doc.source_map, sink)
    if not sink.has_errors:
        evaluate_governance(index, doc.source_map, sink, today=TODAY)


JUNK = st.sampled_from(
    [
        "\t",
        ":",
        "- ",
        "{",
        "]",
        "&a ",
        "*a",
        "!!",
        "'",
        '"',
        "#",
        "\x00",
        "é",
        "\n  ",
        "---\n",
        "%",
        "@",
        "? ",
    ]
)


@SETTINGS
@given(data=st.data())
def test_text_mutations_never_crash(tmp_path: Path, data: st.DataObject) -> None:
    text = data.draw(st.sampled_from(TEXTS))
    lines = text.splitlines(keepends=True)
    for _ in range(data.draw(st.integers(1, 3))):
        kind = data.draw(st.sampled_from(["insert", "delete_line", "duplicate_line", "truncate"]))
        if kind == "insert":
            at = data.draw(st.integers(0, len(lines) - 1))
            col = data.draw(st.integers(0, len(lines[at])))
            lines[at] = lines[at][:col] + data.draw(JUNK) + lines[at][col:]
        elif kind == "delete_line" and len(lines) > 1:
            del lines[data.draw(st.integers(0, len(lines) - 1))]
        elif kind == "duplicate_line":
            at = data.draw(st.integers(0, len(lines) - 1))
            lines.insert(at, lines[at])
        else:
            lines = lines[: data.draw(st.integers(1, len(lines)))]
    path = tmp_path / "mlops.yaml"
    path.write_text("".join(lines), encoding="utf-8")
    sink = Sink()
    check_spec(str(path), sink, on=TODAY)
    assert_located(sink)


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path] if path else []
    if isinstance(node, dict):
        for key, value in node.items():
            found.extend(_paths(value, (*path, key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found.extend(_paths(value, (*path, i)))
    return found


def _parent(data: Any, path: tuple[Any, ...]) -> Any:
    for step in path[:-1]:
        data = data[step]
    return data


REPLACEMENT_VALUES = [None, 0, -1, 3.5, True, "", "x", "Bad Name!", [], {}, ["x"], {"x": 1}, 10**20]
REPLACEMENTS = st.sampled_from(REPLACEMENT_VALUES)
_DELETE = object()


@SETTINGS
@given(data=st.data())
def test_data_mutations_never_crash(tmp_path: Path, data: st.DataObject) -> None:
    spec = data.draw(st.sampled_from(EXAMPLES))
    doc = load_spec(str(spec), Sink())
    assert doc is not None
    mutated = copy.deepcopy(doc.data)
    for _ in range(data.draw(st.integers(1, 3))):
        paths = _paths(mutated)
        if not paths:
            break
        path = data.draw(st.sampled_from(paths))
        parent = _parent(mutated, path)
        kind = data.draw(st.sampled_from(["delete", "replace", "duplicate"]))
        if kind == "delete":
            del parent[path[-1]]
        elif kind == "replace":
            parent[path[-1]] = data.draw(REPLACEMENTS)
        elif isinstance(parent, list):
            parent.insert(path[-1], copy.deepcopy(parent[path[-1]]))
        else:
            parent[path[-1]] = [copy.deepcopy(parent[path[-1]])] * 2
    sink = Sink()
    stages(Document(mutated, doc.source_map, doc.files, doc.path), sink)
    assert_located(sink)


@pytest.mark.parametrize("spec", EXAMPLES, ids=lambda p: p.parent.name)
def test_every_single_mutation_is_reported_not_raised(spec: Path) -> None:
    """Exhaustive where the property test samples: every value of an example replaced by each
    of REPLACEMENT_VALUES, or deleted, one at a time, gives located diagnostics and never
    raises (the sampled test once needed luck to find `overrides.<env>.autoscaling: null`)."""
    doc = load_spec(str(spec), Sink())
    assert doc is not None
    runs = 0
    for path in _paths(doc.data):
        for replacement in [*REPLACEMENT_VALUES, _DELETE]:
            mutated = copy.deepcopy(doc.data)
            parent = _parent(mutated, path)
            if replacement is _DELETE:
                del parent[path[-1]]
            else:
                parent[path[-1]] = copy.deepcopy(replacement)
            sink = Sink()
            stages(Document(mutated, doc.source_map, doc.files, doc.path), sink)
            assert_located(sink)
            runs += 1
    assert runs > 1000


def _optional(path: tuple[Any, ...]) -> bool:
    """A key the schema does not require, so deleting it may leave a valid spec."""
    from compiler.spec.validate import model_at

    if not path or isinstance(path[-1], int):
        return False
    model = model_at(path[:-1])
    field = model.model_fields.get(str(path[-1])) if model is not None else None
    return field is not None and not field.is_required()


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_valid_variants_build_parseable_outputs(tmp_path_factory: Any, data: st.DataObject) -> None:
    """Valid spec → valid outputs: optional keys deleted at random; whenever the front end
    accepts the result, every target renders and every YAML and JSON output parses."""
    import json

    import yaml

    from compiler.build import compile_outputs
    from compiler.render.yaml import dump

    spec = data.draw(st.sampled_from([p for p in EXAMPLES if "include:" not in p.read_text()]))
    doc = load_spec(str(spec), Sink())
    assert doc is not None
    mutated = copy.deepcopy(doc.data)
    # No rule packs, policies or waivers: what is left to fail is meaning, not governance.
    mutated["governance"] = {"frameworks": []}
    for _ in range(data.draw(st.integers(1, 4))):
        paths = [p for p in _paths(mutated) if _optional(p)]
        if not paths:
            break
        path = data.draw(st.sampled_from(paths))
        del _parent(mutated, path)[path[-1]]
    folder = tmp_path_factory.mktemp("variant")
    path = folder / "mlops.yaml"
    path.write_text(dump(mutated), encoding="utf-8")
    sink = Sink()
    checked = check_spec(str(path), sink, on=TODAY)
    assert_located(sink)
    if checked is None:
        return
    compiled = compile_outputs(checked, sink)
    assert compiled is not None, [(d.code, d.message) for d in sink.sorted()]
    for artifact in compiled.artifacts:
        text = artifact.content.decode("utf-8")
        if artifact.path.endswith((".yaml", ".yml")):
            assert all(d is None or isinstance(d, dict) for d in yaml.safe_load_all(text))
        elif artifact.path.endswith(".json"):
            json.loads(text)
