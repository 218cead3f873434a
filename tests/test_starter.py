"""`mlopsc init` end to end: the starter spec is written, validates cleanly, and is not clobbered."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from compiler.starter import DEFAULT_NAME, SCHEMA_URL, clean_name, starter_spec

ROOT = Path(__file__).resolve().parent.parent


def mlopsc(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a user does, in a fresh process."""
    return subprocess.run(
        [sys.executable, "-m", "compiler", *args],
        cwd=cwd or ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def test_init_writes_a_spec_that_validates_without_diagnostics(tmp_path: Path) -> None:
    target = tmp_path / "fraud-scoring"
    done = mlopsc("init", str(target))
    assert done.returncode == 0, done.stderr
    spec = target / "mlops.yaml"
    assert spec.is_file()
    text = spec.read_text(encoding="utf-8")
    assert text.startswith(f"# yaml-language-server: $schema={SCHEMA_URL}\n")
    assert 'name: "fraud-scoring"' in text

    checked = mlopsc("validate", "--format", "json", str(spec))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.strip() in ("", "[]"), "the starter must carry no warning or note"

    strict = mlopsc("validate", "--strict", str(spec))
    assert strict.returncode == 0, strict.stderr


def test_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    spec = tmp_path / "mlops.yaml"
    spec.write_text("# mine\n", encoding="utf-8")
    done = mlopsc("init", str(tmp_path))
    assert done.returncode == 2
    assert "--force" in done.stderr
    assert "Traceback" not in done.stderr
    assert spec.read_text(encoding="utf-8") == "# mine\n"

    forced = mlopsc("init", str(tmp_path), "--force")
    assert forced.returncode == 0, forced.stderr
    assert spec.read_text(encoding="utf-8").startswith("# yaml-language-server:")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("My Project_2024!!", "my-project-2024"),
        ("Foo__Bar", "foo-bar"),
        ("Ünïcode Ärger", "unicode-arger"),
        ("9lives", "lives"),
        ("---", DEFAULT_NAME),
        ("", DEFAULT_NAME),
        ("日本", DEFAULT_NAME),
        ("a" * 80, "a" * 40),
        ("x-" * 30, ("x-" * 20)[:-1]),
    ],
)
def test_clean_name(raw: str, expected: str) -> None:
    assert clean_name(raw) == expected


@pytest.mark.parametrize("raw", ["My Project_2024!!", "null", "true", "Ünïcode", "b" * 64, "..."])
def test_odd_names_are_cleaned_and_still_validate(tmp_path: Path, raw: str) -> None:
    target = tmp_path / "project"
    done = mlopsc("init", str(target), "--name", raw)
    assert done.returncode == 0, done.stderr
    checked = mlopsc("validate", "--strict", str(target / "mlops.yaml"))
    assert checked.returncode == 0, checked.stderr


def test_name_defaults_to_the_folder_name(tmp_path: Path) -> None:
    target = tmp_path / "Churn Model (v2)"
    assert mlopsc("init", str(target)).returncode == 0
    assert 'name: "churn-model-v2"' in (target / "mlops.yaml").read_text(encoding="utf-8")


def test_long_names_keep_namespaces_within_the_limit() -> None:
    text = starter_spec("n" * 100)
    namespaces = [line.split('"')[1] for line in text.splitlines() if "namespace:" in line]
    assert namespaces and all(len(ns) <= 40 for ns in namespaces)
