"""compiler/load.py: safe YAML with a source map, limits, and `include:`."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest
from helpers import BASE, codes, edit, load_text, only, write

from compiler import diagnostics as dx
from compiler.diagnostics import Sink, Span
from compiler.load import MAX_DEPTH, SourceMap, load_spec


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # file names in spans are then relative: mlops.yaml


def test_spans_of_keys_and_values(tmp_path: Path) -> None:
    doc, sink = load_text(tmp_path, BASE)
    assert doc is not None and not sink.items
    smap = doc.source_map
    assert smap.key_span(("models", 0, "framework")) == Span("mlops.yaml", 32, 5)
    assert smap.span(("models", 0, "framework")) == Span("mlops.yaml", 32, 16)
    # flow-style items have their own columns
    assert smap.span(("models", 0, "features", 0)) == Span("mlops.yaml", 34, 16)
    assert smap.span(("environments", 1, "approval", "reviewers", 0)) == Span("mlops.yaml", 14, 44)


def test_missing_path_is_blamed_on_nearest_parent_key(tmp_path: Path) -> None:
    doc, _ = load_text(tmp_path, BASE)
    assert doc is not None
    # training has no `params`: the span is the `training:` key, not its first child
    assert doc.source_map.span(("models", 0, "training", "params", "x")) == Span(
        "mlops.yaml", 35, 5
    )
    assert SourceMap().span(("nothing",)) == Span("<spec>")


def test_duplicate_key_names_the_first(tmp_path: Path) -> None:
    _, sink = load_text(tmp_path, edit(BASE, ("  owner: ml\n", "  owner: ml\n  owner: ops\n")))
    d = only(sink, dx.DUPLICATE_KEY)
    assert d.span == Span("mlops.yaml", 6, 3)
    assert "first at line 5" in d.message


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("!!python/object/apply:os.system ['id']", "!!python/object/apply:os.system"),
        ("!!python/name:os.system ''", "!!python/name:os.system"),
        ("!foo bar", "!foo"),
        ("!!set {a: null}", "!!set"),
    ],
)
def test_non_standard_tags_are_refused(tmp_path: Path, value: str, shown: str) -> None:
    doc, sink = load_text(
        tmp_path, edit(BASE, ("  owner: ml\n", f"  owner: ml\n  description: {value}\n"))
    )
    assert doc is None
    d = only(sink, dx.BAD_TAG)
    assert d.message == f"tag '{shown}' is not allowed"
    assert d.span.line == 6


def test_standard_tags_are_fine(tmp_path: Path) -> None:
    doc, sink = load_text(tmp_path, "a: !!str 12\nb: !!int '7'\nc: !!float 1\nd: !!bool true\n")
    assert not sink.items and doc is not None
    assert doc.data == {"a": "12", "b": 7, "c": 1.0, "d": True}


def test_anchors_aliases_and_merge_keys(tmp_path: Path) -> None:
    text = "base: &b {cpu: '1', memory: 2Gi}\nx: *b\ny:\n  <<: *b\n  cpu: '2'\n"
    doc, sink = load_text(tmp_path, text)
    assert not sink.items and doc is not None
    assert doc.data["x"] == {"cpu": "1", "memory": "2Gi"}
    assert doc.data["y"] == {"cpu": "2", "memory": "2Gi"}


def test_merge_of_a_scalar_is_an_error(tmp_path: Path) -> None:
    _, sink = load_text(tmp_path, "a: &s text\nb:\n  <<: *s\n")
    assert codes(sink) == [dx.MERGE_KEY]


def test_alias_bomb_is_refused_fast(tmp_path: Path) -> None:
    levels = "".join(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]\n" for i in range(1, 12))
    start = time.perf_counter()
    doc, sink = load_text(tmp_path, "l0: &l0 [lol]\n" + levels)
    elapsed = time.perf_counter() - start
    assert doc is None
    d = only(sink, dx.ALIAS_BOMB)
    assert elapsed < 1.0
    assert d.span.column == 1 and d.span.line > 1  # a top-level key, not the anchored scalar


def test_nesting_depth_is_bounded(tmp_path: Path) -> None:
    deep = "a: " + "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5) + "\n"
    doc, sink = load_text(tmp_path, deep)
    assert doc is None and codes(sink) == [dx.TOO_DEEP]
    ok, sink = load_text(tmp_path, "a: " + "[" * 10 + "]" * 10 + "\n")
    assert ok is not None and not sink.items


def test_yaml_1_2_scalars(tmp_path: Path) -> None:
    text = (
        "a: on\nb: yes\nc: 0o17\nd: 017\ne: 0x1F\nf: 2027-01-01\ng: 3.2\nh: ~\ni: .inf\nj: 'on'\n"
    )
    doc, sink = load_text(tmp_path, text)
    assert not sink.items and doc is not None
    assert doc.data == {
        "a": "on",
        "b": "yes",
        "c": 15,
        "d": 17,
        "e": 31,
        "f": "2027-01-01",
        "g": 3.2,
        "h": None,
        "i": float("inf"),
        "j": "on",
    }


@pytest.mark.parametrize(
    ("content", "code", "span"),
    [
        (b"", dx.EMPTY, (1, 1)),
        (b"# only a comment\n\n", dx.EMPTY, (1, 1)),
        (b"---\n...\n", dx.EMPTY, (1, 1)),
        (b"a: 1\nb: caf\xe9\n", dx.ENCODING, (2, 7)),
        (b"- a\n- b\n", dx.NOT_MAPPING, (1, 1)),
        (b"just text\n", dx.NOT_MAPPING, (1, 1)),
        (b"a: 1\n---\nb: 2\n", dx.MULTI_DOC, (2, 1)),
        (b"a: 1\n--- # second\n\n\nb: 2\n", dx.MULTI_DOC, (2, 1)),
        (b"a:\n\tb: 1\n", dx.TAB, (2, 1)),
        (b"a: [1, 2\nb: 3\n", dx.YAML_SYNTAX, (2, 2)),
        (b"a: 'unterminated\n", dx.YAML_SYNTAX, (2, 1)),
    ],
)
def test_unreadable_files(tmp_path: Path, content: bytes, code: str, span: tuple[int, int]) -> None:
    doc, sink = load_text(tmp_path, content)
    assert doc is None
    d = only(sink, code)
    assert (d.span.line, d.span.column) == span


def test_byte_order_mark_is_ignored(tmp_path: Path) -> None:
    doc, sink = load_text(tmp_path, "\ufeffa: 1\n".encode())
    assert not sink.items and doc is not None and doc.data == {"a": 1}


def test_missing_top_file_raises_for_the_cli(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        load_spec(str(tmp_path / "nope.yaml"), Sink())


def test_sha256_of_one_file_is_its_content_hash(tmp_path: Path) -> None:
    doc, _ = load_text(tmp_path, BASE)
    assert doc is not None
    assert doc.sha256 == hashlib.sha256(BASE.encode()).hexdigest()


# --- include -------------------------------------------------------------------------------

TEAM = "teams:\n  - name: {0}\n    email: {0}@example.com\n"


def test_include_glob_appends_lists_in_sorted_order(tmp_path: Path) -> None:
    top = edit(BASE, ("kind: MLOpsProject\n", "kind: MLOpsProject\ninclude: [teams/*.yaml]\n"))
    doc, sink = load_text(
        tmp_path,
        top,
        **{"teams/b.yaml": TEAM.format("bravo"), "teams/a.yaml": TEAM.format("alpha")},
    )
    assert not sink.items and doc is not None
    assert [t["name"] for t in doc.data["teams"]] == ["ml", "alpha", "bravo"]
    assert [name for name, _ in doc.files] == ["mlops.yaml", "teams/a.yaml", "teams/b.yaml"]
    # the included items keep spans in their own files, at the shifted list index
    assert doc.source_map.span(("teams", 1, "name")) == Span("teams/a.yaml", 2, 11)
    assert doc.source_map.key_span(("teams", 2, "email")) == Span("teams/b.yaml", 3, 5)
    assert doc.source_map.span(("teams", 0, "name")) == Span("mlops.yaml", 8, 11)


def test_include_creates_a_missing_section(tmp_path: Path) -> None:
    top = "apiVersion: mlopsc/v1\ninclude: [parts/slos.yaml]\n"
    doc, sink = load_text(tmp_path, top, **{"parts/slos.yaml": "# slos\nslos:\n  - name: s\n"})
    assert not sink.items and doc is not None
    assert doc.data["slos"] == [{"name": "s"}]
    assert doc.source_map.key_span(("slos",)) == Span("parts/slos.yaml", 2, 1)
    assert doc.source_map.span(("slos", 0, "name")) == Span("parts/slos.yaml", 3, 11)


def test_nested_includes_are_relative_to_the_including_file(tmp_path: Path) -> None:
    files = {
        "a/one.yaml": "include: [sub/two.yaml]\n" + TEAM.format("one"),
        "a/sub/two.yaml": TEAM.format("two"),
    }
    doc, sink = load_text(tmp_path, "include: [a/one.yaml]\n" + TEAM.format("top"), **files)
    assert not sink.items and doc is not None
    assert [t["name"] for t in doc.data["teams"]] == ["top", "one", "two"]
    assert doc.source_map.span(("teams", 2, "name")) == Span("a/sub/two.yaml", 2, 11)


def test_include_cycle(tmp_path: Path) -> None:
    files = {"p.yaml": "include: [q.yaml]\n", "q.yaml": "include: [p.yaml]\n"}
    _, sink = load_text(tmp_path, "include: [p.yaml]\n", **files)
    d = only(sink, dx.INCLUDE_CYCLE)
    assert d.span == Span("q.yaml", 1, 11)


def test_self_include_is_a_cycle(tmp_path: Path) -> None:
    _, sink = load_text(tmp_path, "include: [mlops.yaml]\n" + TEAM.format("a"))
    assert only(sink, dx.INCLUDE_CYCLE).span == Span("mlops.yaml", 1, 11)


def test_include_missing_and_bad_entries(tmp_path: Path) -> None:
    _, sink = load_text(tmp_path, "include: [nothing/*.yaml, gone.yaml, 3]\n")
    assert [(d.code, d.span.column) for d in sink.sorted()] == [
        (dx.INCLUDE_MISSING, 11),
        (dx.INCLUDE_MISSING, 27),
        (dx.WRONG_TYPE, 38),
    ]
    _, sink = load_text(tmp_path, "include: parts.yaml\n")
    assert codes(sink) == [dx.WRONG_TYPE]


def test_included_file_may_only_hold_list_sections(tmp_path: Path) -> None:
    files = {"x.yaml": "metadata: {name: x}\nteams: {name: t}\nmodels: []\n"}
    doc, sink = load_text(tmp_path, "include: [x.yaml]\n", **files)
    assert doc is not None
    assert [(d.code, d.span) for d in sink.sorted()] == [
        (dx.INCLUDE_CONTENT, Span("x.yaml", 1, 1)),
        (dx.INCLUDE_CONTENT, Span("x.yaml", 2, 1)),
    ]


def test_errors_in_an_included_file_name_that_file(tmp_path: Path) -> None:
    _, sink = load_text(
        tmp_path, "include: [x.yaml]\n", **{"x.yaml": "teams:\n  - a: 1\n    a: 2\n"}
    )
    assert only(sink, dx.DUPLICATE_KEY).span == Span("x.yaml", 3, 5)


def test_multi_file_sha_changes_with_any_file(tmp_path: Path) -> None:
    write(tmp_path, {"t.yaml": TEAM.format("a")})
    first, _ = load_text(tmp_path, "include: [t.yaml]\n")
    write(tmp_path, {"t.yaml": TEAM.format("b")})
    second, _ = load_text(tmp_path, "include: [t.yaml]\n")
    assert first is not None and second is not None
    assert first.sha256 != second.sha256


def test_fast_path_uses_libyaml_when_pyyaml_has_it() -> None:
    # A silent fall back to PyYAML's pure-Python parser made large specs 5x slower once.
    import yaml

    from compiler import yaml12

    if yaml.__with_libyaml__:
        assert yaml12._Parser is not None
        assert yaml12._Composer.__mro__[1] is yaml12._Parser
