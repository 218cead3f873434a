"""The repository keeps its own promises: lint, types, and docs that match the code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, require_tool


def run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_lint_and_format_are_clean() -> None:
    ruff = require_tool("ruff", "pip install -e '.[dev]'")
    lint = run(ruff, "check", "compiler", "tests", "bench", "scripts")
    assert lint.returncode == 0, lint.stdout + lint.stderr
    fmt = run(ruff, "format", "--check", "compiler", "tests", "bench", "scripts")
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


def test_mypy_strict_on_the_compiler() -> None:
    require_tool("mypy", "pip install -e '.[dev]'")
    result = run(sys.executable, "-m", "mypy", "--strict", "compiler")
    assert result.returncode == 0, result.stdout + result.stderr


def test_spec_reference_is_generated_from_the_models() -> None:
    result = run(sys.executable, "scripts/gen_spec_doc.py", "--check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_readme_quick_start_names_the_ci_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    command = "bash scripts/install-checkers.sh && pip install -e '.[dev]' && python -m pytest"
    assert command in readme
    assert "bash scripts/install-checkers.sh" in ci and "pip install -e '.[dev]'" in ci
    assert "python -m pytest" in ci


def test_readme_quick_start_builds_the_example(tmp_path: Path) -> None:
    """The README's first command, with the installed `mlopsc` entry point."""
    mlopsc = require_tool("mlopsc", "pip install -e .")
    readme = (ROOT / "README.md").read_text()
    assert "pip install -e . && mlopsc build examples/payments-ml/mlops.yaml -o out" in readme
    out = tmp_path / "out"
    done = subprocess.run(
        [mlopsc, "build", "examples/payments-ml/mlops.yaml", "-o", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert (out / "mlopsc.lock.json").exists()
    assert (out / "kubernetes" / "production" / "kustomization.yaml").exists()
