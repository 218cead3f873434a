"""compiler/load.py: safe YAML with a source map, limits, and `include:`."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest
from helpers import BASE, codes, edit, load_text, only, write

from compiler import diagnostics as dx
from compiler.diagnostics import Sink, Span
from compiler.files import FileProblem
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
    with pytest.raises(FileProblem, match=r"nope\.yaml: no such file"):
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


# --- hostile input: includes stay in the repository, files are regular, values bounded ------


def _in_repo(tmp_path: Path) -> Path:
    """A git work tree (a `.git` folder is what marks it) with the spec in a sub-folder."""
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    (tmp_path / "repo" / "deploy").mkdir()
    return tmp_path / "repo" / "deploy"


def test_include_inside_the_repository_may_climb_to_its_root(tmp_path: Path) -> None:
    spec_dir = _in_repo(tmp_path)
    write(tmp_path / "repo", {"common/teams.yaml": TEAM.format("common")})
    doc, sink = load_text(spec_dir, "include: [../common/teams.yaml]\n" + TEAM.format("top"))
    assert not sink.items and doc is not None
    assert [t["name"] for t in doc.data["teams"]] == ["top", "common"]


@pytest.mark.parametrize(
    "entry",
    ["/etc/passwd", "../../outside.yaml", "../../**/*.yaml", "/**/*.x", "../../*.yaml"],
)
def test_include_may_not_leave_the_repository(tmp_path: Path, entry: str) -> None:
    spec_dir = _in_repo(tmp_path)
    write(tmp_path, {"outside.yaml": TEAM.format("evil")})
    doc, sink = load_text(spec_dir, f"include: ['{entry}']\n" + TEAM.format("top"))
    d = only(sink, dx.INCLUDE_OUTSIDE)
    assert d.span == Span("repo/deploy/mlops.yaml", 1, 11)
    assert doc is not None and [t["name"] for t in doc.data["teams"]] == ["top"]


def test_outside_git_the_spec_folder_is_the_boundary(tmp_path: Path) -> None:
    write(tmp_path, {"outside.yaml": TEAM.format("evil")})
    _, sink = load_text(tmp_path / "spec", "include: [../outside.yaml]\n")
    assert only(sink, dx.INCLUDE_OUTSIDE).message == (
        "include '../outside.yaml' leaves the repository"
    )


def test_a_symlink_leading_out_is_refused(tmp_path: Path) -> None:
    spec_dir = _in_repo(tmp_path)
    write(tmp_path, {"secret.yaml": TEAM.format("evil")})
    (spec_dir / "teams.yaml").symlink_to(tmp_path / "secret.yaml")
    (spec_dir / "etc").symlink_to("/etc")
    _, sink = load_text(spec_dir, "include: [teams.yaml, 'etc/passwd', '*.yaml']\n")
    assert [(d.code, d.span.column) for d in sink.sorted()] == [
        (dx.INCLUDE_OUTSIDE, 11),
        (dx.INCLUDE_OUTSIDE, 23),
        (dx.INCLUDE_OUTSIDE, 37),
    ]
    assert "through a symlink" in sink.sorted()[0].message


def test_a_symlink_inside_the_repository_is_fine(tmp_path: Path) -> None:
    spec_dir = _in_repo(tmp_path)
    write(spec_dir, {"real/t.yaml": TEAM.format("t")})
    (spec_dir / "t.yaml").symlink_to(spec_dir / "real" / "t.yaml")
    doc, sink = load_text(spec_dir, "include: [t.yaml]\n")
    assert (
        not sink.items
        and doc is not None
        and doc.data["teams"] == [{"name": "t", "email": "t@example.com"}]
    )


def test_globs_do_not_enter_symlinked_folders(tmp_path: Path) -> None:
    spec_dir = _in_repo(tmp_path)
    write(spec_dir, {"parts/a.yaml": TEAM.format("a")})
    (spec_dir / "loop1").symlink_to(".")
    (spec_dir / "loop2").symlink_to(".")
    (spec_dir / "parts" / "up").symlink_to("..")
    doc, sink = load_text(spec_dir, "include: ['**/*.yaml', '**/*.x']\n")
    # `**/*.yaml` finds parts/a.yaml once (and mlops.yaml itself: a cycle), never via a link
    assert sorted(d.code for d in sink.items) == [dx.INCLUDE_MISSING, dx.INCLUDE_CYCLE]
    assert doc is not None and [t["name"] for t in doc.data["teams"]] == ["a"]


def test_a_glob_stops_past_its_bound(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("compiler.files.MAX_GLOB_ENTRIES", 50)
    spec_dir = _in_repo(tmp_path)
    write(spec_dir, {f"d{i}/f{j}.txt": "" for i in range(10) for j in range(10)})
    _, sink = load_text(spec_dir, "include: ['**/*.yaml']\n")
    d = only(sink, dx.INCLUDE_TOO_BROAD)
    assert d.span == Span("repo/deploy/mlops.yaml", 1, 11)
    assert "visits more than 50 files and folders" in d.message


@pytest.mark.parametrize("kind", ["fifo", "folder", "socket"])
def test_an_include_must_be_a_regular_file(tmp_path: Path, kind: str) -> None:
    import socket

    target = tmp_path / "part.yaml"
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "folder":
        target.mkdir()
    else:
        with socket.socket(socket.AF_UNIX) as holder:
            holder.bind(str(target))
    _, sink = load_text(tmp_path, "include: [part.yaml, '*.yaml']\n" + TEAM.format("a"))
    problems = [d for d in sink.sorted() if d.code == dx.INCLUDE_MISSING]
    assert problems and "not a regular file" in problems[0].message


def test_an_unreadable_folder_says_permission_denied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tests run as root, where permissions are not checked: make the OS say it.
    real_open = os.open

    def denied(path: str, *args: object, **kwargs: object) -> int:
        if str(path).endswith("part.yaml"):
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", denied)
    _, sink = load_text(tmp_path, "include: [part.yaml]\n", **{"part.yaml": TEAM.format("a")})
    assert only(sink, dx.INCLUDE_MISSING).message == "cannot read 'part.yaml': permission denied"
    with pytest.raises(FileProblem, match=r"part\.yaml: permission denied"):
        load_spec(str(tmp_path / "part.yaml"), Sink())


@pytest.mark.parametrize("depth", [1_000, 100_000])
@pytest.mark.parametrize("style", ["flow", "block"])
def test_deep_nesting_is_a_located_error(tmp_path: Path, depth: int, style: str) -> None:
    if style == "flow":
        text = "a: " + "[" * depth + "]" * depth + "\n"
    else:
        text = "a:\n" + "- " * depth + "x\n"
    _, sink = load_text(tmp_path, text)
    d = only(sink, dx.TOO_DEEP)
    assert d.span.file == "mlops.yaml" and d.span.line in (1, 2)


def test_deep_nesting_after_a_syntax_error_is_still_an_error(tmp_path: Path) -> None:
    # libyaml refuses the file, so ruamel.yaml (recursive) reads it to word the error
    _, sink = load_text(tmp_path, "a: [x:y, " + "[" * 5000 + "]" * 5000 + "]\n}")
    assert sink.has_errors


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("9" * 5000, "the integer 9999999999… (5000 characters) does not fit in 64 bits"),
        ("9223372036854775808", "the integer 9223372036854775808 does not fit in 64 bits"),
        ("0x" + "f" * 17, "the integer 0xfffffffffffffffff does not fit in 64 bits"),
        ("1e999", "the number 1e999 is too large for a 64-bit float"),
        ("-1e999", "the number -1e999 is too large for a 64-bit float"),
    ],
)
def test_numbers_past_64_bits_are_located_errors(tmp_path: Path, value: str, message: str) -> None:
    _, sink = load_text(tmp_path, f"metadata:\n  name: {value}\n")
    d = only(sink, dx.OUT_OF_RANGE)
    assert d.span == Span("mlops.yaml", 2, 9)
    assert d.message.startswith(message.split("…")[0])


def test_largest_64_bit_integer_is_fine(tmp_path: Path) -> None:
    doc, sink = load_text(tmp_path, f"a: {2**63 - 1}\nb: -{2**63}\n")
    assert not sink.items and doc is not None and doc.data == {"a": 2**63 - 1, "b": -(2**63)}


def test_include_chains_are_bounded(tmp_path: Path) -> None:
    from compiler.load import MAX_INCLUDE_DEPTH

    files = {f"p{i}.yaml": f"include: [p{i + 1}.yaml]\n" for i in range(MAX_INCLUDE_DEPTH + 5)}
    _, sink = load_text(tmp_path, "include: [p0.yaml]\n", **files)
    d = only(sink, dx.INCLUDE_TOO_BROAD)
    assert (
        d.message
        == f"includes nest deeper than {MAX_INCLUDE_DEPTH} files at 'p{MAX_INCLUDE_DEPTH}.yaml'"
    )


def test_includes_add_up_to_a_bound(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("compiler.load.MAX_TOTAL_BYTES", 100)
    files = {f"t{i}.yaml": TEAM.format(f"team{i}") * 1 for i in range(6)}
    doc, sink = load_text(tmp_path, "include: ['t*.yaml']\n", **files)
    d = only(sink, dx.INCLUDE_TOO_BROAD)
    assert "exceed" in d.message and "100 MiB" not in d.message
    assert doc is not None and len(doc.data["teams"]) < 6
