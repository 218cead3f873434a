"""Shared fixtures: the examples, their full builds, and the reference checkers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p.parent for p in (ROOT / "examples").glob("*/mlops.yaml"))
FIXED_EPOCH = "1798761600"  # 2027-01-01: waiver expiry in goldens does not drift with the clock


BUILD_CACHE = tempfile.mkdtemp(prefix="mlopsc-test-cache-")


def example_ids() -> list[str]:
    return [p.name for p in EXAMPLES]


def require_tool(path: str | Path, install: str) -> str:
    """The tool's path; a missing tool skips locally but fails in CI, where it must be installed."""
    found = (
        shutil.which(str(path))
        if not os.path.isabs(str(path))
        else (str(path) if os.path.exists(path) else None)
    )
    if found is None:
        message = f"{path} is not installed: {install}"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI installs every checker: see scripts/install-checkers.sh)")
        pytest.skip(message)
    return found


def venv_tool(name: str) -> str:
    """A checker from its own virtualenv (.venv-checkov/bin/checkov, .venv-feast/bin/feast)."""
    return require_tool(ROOT / f".venv-{name}" / "bin" / name, "bash scripts/install-checkers.sh")


def run_mlopsc(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The CLI as a user runs it, in a fresh process."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    full_env = {
        **os.environ,
        "SOURCE_DATE_EPOCH": FIXED_EPOCH,
        "PYTHONPATH": path,
        "MLOPSC_CACHE_DIR": BUILD_CACHE,  # never the user's own cache
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "compiler", *args],
        cwd=cwd or ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="session")
def built_examples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every example built once, in full: example name → output folder."""
    base = tmp_path_factory.mktemp("built")
    outputs: dict[str, Path] = {}
    for example in EXAMPLES:
        out = base / example.name
        result = run_mlopsc("build", str(example / "mlops.yaml"), "-o", str(out))
        assert result.returncode == 0, result.stderr
        outputs[example.name] = out
    return outputs


# Acceptance tests run a real consumer of the outputs (promtool, kubectl, checkov, feast, a
# Pushgateway, …): every test in a module that asks for a tool. The rest are unit tests, fast
# and self-contained: `python -m pytest -m "not acceptance"` runs only them. CI runs both.
_ACCEPTANCE_MARKS = ("require_tool(", "venv_tool(")


def _runs_a_checker(path: Path, cache: dict[Path, bool] = {}) -> bool:  # noqa: B006
    if path not in cache:
        text = path.read_text(encoding="utf-8") if path.suffix == ".py" else ""
        cache[path] = path.name != "conftest.py" and any(m in text for m in _ACCEPTANCE_MARKS)
    return cache[path]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _runs_a_checker(Path(str(item.fspath))):
            item.add_marker(pytest.mark.acceptance)
