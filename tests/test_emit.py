"""compiler/emit.py: atomic writes, the lock file, foreign files, and check."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from compiler.artifact import Artifact
from compiler.emit import LOCK, EmitError, LockInfo, check_outputs, write_outputs
from compiler.render.yaml import yaml_text

INFO = LockInfo("0.0.0", "mlops.yaml", "0" * 64)


def art(path: str, text: str, target: str = "kubernetes") -> Artifact:
    return Artifact(path, text.encode(), target)


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_first_build_writes_files_and_lock(tmp_path: Path) -> None:
    out = tmp_path / "out"
    written = write_outputs(str(out), [art("a/b.yaml", "x: 1\n"), art("c.txt", "hi")], INFO)
    assert (written.changed, written.removed, written.edited) == (2, [], [])
    assert (out / "a/b.yaml").read_text() == "x: 1\n"
    lock = json.loads((out / LOCK).read_text())
    assert set(lock["files"]) == {"a/b.yaml", "c.txt"}
    assert lock["files"]["c.txt"]["target"] == "kubernetes"
    assert lock["spec"] == {"path": "mlops.yaml", "sha256": "0" * 64}
    assert not [p for p in out.iterdir() if p.name.startswith(".mlopsc-stage")]


def test_rebuild_removes_files_that_no_longer_belong(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_outputs(str(out), [art("x/old.yaml", "1"), art("keep.yaml", "2")], INFO)
    written = write_outputs(str(out), [art("keep.yaml", "2")], INFO)
    assert written.changed == 0
    assert written.removed == ["x/old.yaml"]
    assert not (out / "x").exists()  # the emptied folder goes too
    assert (out / "keep.yaml").exists()


def test_user_file_is_never_overwritten(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.md").write_text("mine")
    write_outputs(str(out), [art("a.yaml", "1")], INFO)
    before = tree(out)
    with pytest.raises(EmitError) as caught:
        write_outputs(str(out), [art("a.yaml", "2"), art("notes.md", "generated")], INFO)
    assert caught.value.code == "MLC401"
    assert caught.value.path == "notes.md"
    assert tree(out) == before  # nothing at all changed


def test_user_file_beside_generated_ones_survives_rebuilds(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_outputs(str(out), [art("k/a.yaml", "1")], INFO)
    (out / "k" / "README.md").write_text("mine")
    write_outputs(str(out), [art("k/b.yaml", "2")], INFO)
    assert (out / "k" / "README.md").read_text() == "mine"
    assert not (out / "k" / "a.yaml").exists()


def test_file_where_a_folder_is_needed_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "k").write_text("a file")
    with pytest.raises(EmitError) as caught:
        write_outputs(str(out), [art("k/a.yaml", "1")], INFO)
    assert caught.value.code == "MLC401"
    assert (out / "k").read_text() == "a file"


def test_failed_swap_rolls_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    write_outputs(str(out), [art("a.yaml", "old a"), art("b.yaml", "old b")], INFO)
    before = tree(out)
    real_replace = os.replace
    calls = {"n": 0}

    def flaky(src: str, dst: str, **kwargs: int) -> None:
        calls["n"] += 1
        if calls["n"] == 4:  # journal, then a.yaml aside and in: fail moving b.yaml aside
            raise OSError(28, "No space left on device")
        real_replace(src, dst, **kwargs)

    monkeypatch.setattr(os, "replace", flaky)
    with pytest.raises(EmitError) as caught:
        write_outputs(str(out), [art("a.yaml", "new a"), art("b.yaml", "new b")], INFO)
    monkeypatch.setattr(os, "replace", real_replace)
    assert caught.value.code == "MLC406" and caught.value.io
    assert "No space left on device" in str(caught.value)
    assert tree(out) == before
    assert sorted(p.name for p in out.iterdir()) == ["a.yaml", "b.yaml", LOCK]


def test_unsafe_paths_are_rejected() -> None:
    Artifact(".github/workflows/ci.yml", b"")
    for bad in (
        "../x",
        "/etc/passwd",
        "a/../../b",
        "a//b",
        ".hidden/../x",
        "a/./b",
        "",
        ".",
        "a/..",
    ):
        with pytest.raises(ValueError):
            Artifact(bad, b"")


def test_lock_with_unsafe_path_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / LOCK).write_text(json.dumps({"files": {"../../etc/passwd": {"sha256": "x"}}}))
    with pytest.raises(EmitError):
        write_outputs(str(out), [art("a.yaml", "1")], INFO)


def test_only_keeps_other_targets_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_outputs(str(out), [art("k.yaml", "1", "kubernetes"), art("a.yaml", "1", "argocd")], INFO)
    write_outputs(str(out), [art("a.yaml", "2", "argocd")], INFO, only={"argocd"})
    assert (out / "k.yaml").read_text() == "1"
    assert set(json.loads((out / LOCK).read_text())["files"]) == {"k.yaml", "a.yaml"}
    assert (
        check_outputs(
            str(out), [art("k.yaml", "1", "kubernetes"), art("a.yaml", "2", "argocd")], INFO
        )
        == []
    )


def test_check_finds_stale_missing_edited_extra(tmp_path: Path) -> None:
    out = tmp_path / "out"
    arts = [
        art("stale.yaml", "1"),
        art("edited.yaml", "1"),
        art("missing.yaml", "1"),
        art("extra.yaml", "1"),
    ]
    write_outputs(str(out), arts, INFO)
    assert check_outputs(str(out), arts, INFO) == []
    (out / "edited.yaml").write_text("by hand")
    (out / "missing.yaml").unlink()
    now = [art("stale.yaml", "2"), art("edited.yaml", "1"), art("missing.yaml", "1")]
    found = {(f.kind, f.path) for f in check_outputs(str(out), now, INFO)}
    assert found == {
        ("stale", "stale.yaml"),
        ("edited", "edited.yaml"),
        ("missing", "missing.yaml"),
        ("extra", "extra.yaml"),
        ("stale", LOCK),
    }


def test_check_without_lock_says_missing(tmp_path: Path) -> None:
    found = check_outputs(str(tmp_path), [art("a.yaml", "1")], INFO)
    assert {(f.kind, f.path) for f in found} == {("missing", LOCK), ("missing", "a.yaml")}


def test_yaml_text_has_no_anchors_and_keeps_order() -> None:
    shared = {"b": 1, "a": 2}
    text = yaml_text([{"z": shared, "y": shared}], header="# h\n").decode()
    assert "&" not in text and "*" not in text
    assert text.startswith("# h\nz:\n  b: 1\n  a: 2\n")


def test_hand_edits_are_kept_unless_forced(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_outputs(str(out), [art("a.yaml", "1"), art("b.yaml", "1"), art("gone.yaml", "1")], INFO)
    (out / "a.yaml").write_text("hand edit")
    (out / "gone.yaml").write_text("hand edit")
    before = tree(out)
    with pytest.raises(EmitError) as caught:
        write_outputs(str(out), [art("a.yaml", "1"), art("b.yaml", "2")], INFO)
    assert not caught.value.io
    assert [(p.code, p.path) for p in caught.value.problems] == [
        ("MLC401", "a.yaml"),
        ("MLC401", "gone.yaml"),
    ]
    assert tree(out) == before
    written = write_outputs(str(out), [art("a.yaml", "1"), art("b.yaml", "2")], INFO, force=True)
    assert written.edited == ["a.yaml", "gone.yaml"]
    assert (out / "a.yaml").read_text() == "1"
    assert not (out / "gone.yaml").exists()
