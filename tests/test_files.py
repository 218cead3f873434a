"""compiler/files.py: regular files only, read without blocking; includes stay in the repository."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from compiler.files import FileProblem, expand_include, read_regular, repository_root


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/dev/zero", "a device, not a regular file"),
        ("/dev/null", "a device, not a regular file"),
        ("/", "a folder, not a regular file"),
    ],
)
def test_only_regular_files_are_read(path: str, reason: str) -> None:
    with pytest.raises(FileProblem) as caught:
        read_regular(path, limit=1024)
    assert caught.value.reason == reason
    assert str(caught.value) == f"cannot read {path}: {reason}"


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "spec.yaml"
    os.mkfifo(fifo)
    with pytest.raises(FileProblem, match="a FIFO, not a regular file"):
        read_regular(str(fifo), limit=1024)


def test_size_bound(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"x" * (2 * 2**20 + 1))
    with pytest.raises(FileProblem, match="larger than 2 MiB"):
        read_regular(str(big), limit=2 * 2**20)
    assert read_regular(str(big), limit=3 * 2**20) == b"x" * (2 * 2**20 + 1)


def test_permission_denied_is_said(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(path: str, *_: object) -> int:
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(os, "open", denied)
    with pytest.raises(FileProblem, match="permission denied"):
        read_regular(str(tmp_path / "x"), limit=10)


def test_repository_root_is_the_nearest_git(tmp_path: Path) -> None:
    (tmp_path / "repo" / "a" / "b").mkdir(parents=True)
    (tmp_path / "repo" / ".git").write_text("gitdir: elsewhere\n")  # a worktree's .git file
    real = os.path.realpath(tmp_path)
    assert repository_root(os.path.join(real, "repo", "a", "b")) == os.path.join(real, "repo")
    (tmp_path / "plain").mkdir()
    assert repository_root(os.path.join(real, "plain")) == os.path.join(real, "plain")


def test_expand_include_sorts_and_skips_hidden(tmp_path: Path) -> None:
    root = os.path.realpath(tmp_path)
    for name in ("b.yaml", "a.yaml", ".hidden.yaml", "sub/c.yaml", ".git/x.yaml"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    assert expand_include("*.yaml", root, root) == [f"{root}/a.yaml", f"{root}/b.yaml"]
    assert expand_include("**/*.yaml", root, root) == [
        f"{root}/a.yaml",
        f"{root}/b.yaml",
        f"{root}/sub/c.yaml",
    ]
    assert expand_include(".*.yaml", root, root) == [f"{root}/.hidden.yaml"]
    assert expand_include("sub/c.yaml", root, root) == [f"{root}/sub/c.yaml"]
    assert expand_include("sub/../a.yaml", root, root) == [f"{root}/a.yaml"]
    assert expand_include("nothing.yaml", root, root) == []
