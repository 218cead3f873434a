"""The mlopsc-check hook, run by real pre-commit from a copy of this repository: it runs on a
commit that only deletes a generated file (pre-commit never hands deleted files to a `files`
filter, hence `always_run`), and passes when the outputs are in sync."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import FIXED_EPOCH, ROOT, require_tool, run_mlopsc

GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
}


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**os.environ, **GIT_ENV},
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout


def snapshot_of_this_repository(dest: Path) -> str:
    """This working tree (tracked and new files) committed into a scratch repository."""
    listed = git(ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    for rel in filter(None, listed.split("\0")):
        src = ROOT / rel
        if src.is_file() and not src.is_symlink():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
        elif src.is_symlink():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            (dest / rel).symlink_to(os.readlink(src))
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "snapshot")
    return git(dest, "rev-parse", "HEAD").strip()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    pre_commit = require_tool("pre-commit", "pip install pre-commit")
    base = tmp_path_factory.mktemp("hook")
    hooks = base / "mlopsc"
    hooks.mkdir()
    rev = snapshot_of_this_repository(hooks)
    proj = base / "proj"
    shutil.copytree(ROOT / "examples" / "payments-ml", proj)
    assert run_mlopsc("build", "mlops.yaml", "-o", "deploy", cwd=proj).returncode == 0
    (proj / ".pre-commit-config.yaml").write_text(
        "repos:\n"
        f"  - repo: {hooks}\n"
        f"    rev: {rev}\n"
        "    hooks:\n"
        "      - id: mlopsc-check\n"
        "        args: [-o, deploy, mlops.yaml]\n"
    )
    git(proj, "init", "-q", "-b", "main")
    git(proj, "add", "-A")
    git(proj, "commit", "-q", "-m", "spec and outputs")
    env = {
        **os.environ,
        **GIT_ENV,
        "PRE_COMMIT_HOME": str(base / "cache"),
        "SOURCE_DATE_EPOCH": FIXED_EPOCH,
        "PATH": f"{Path(pre_commit).parent}{os.pathsep}{os.environ['PATH']}",
    }
    return proj, env


def run_hook(proj: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["pre-commit", "run", "mlopsc-check"],
        cwd=proj,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_hook_passes_when_outputs_are_in_sync(project: tuple[Path, dict[str, str]]) -> None:
    proj, env = project
    result = run_hook(proj, env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Passed" in result.stdout


def test_hook_runs_on_a_commit_that_only_deletes_a_generated_file(
    project: tuple[Path, dict[str, str]],
) -> None:
    proj, env = project
    git(proj, "rm", "-q", "deploy/argocd/production.yaml")
    try:
        result = run_hook(proj, env)
    finally:
        git(proj, "reset", "-q", "--hard")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Failed" in result.stdout and "(no files to check)" not in result.stdout
    assert "argocd/production.yaml is missing" in result.stdout
