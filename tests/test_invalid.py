"""Every tests/invalid/<case>/ holds a broken spec and the exact diagnostics it must produce.

The validator runs in-process with the case folder as the working directory, so file names in
the diagnostics are relative to the case. A case that only warns says so in an `exit` file.
Regenerate nothing automatically: an expected.txt is reviewed by a person before it is frozen.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from compiler.cli import cli
from compiler.diagnostics import printable
from tests.conftest import FIXED_EPOCH

CASES_DIR = Path(__file__).resolve().parent / "invalid"
CASES = sorted(p for p in CASES_DIR.iterdir() if (p / "mlops.yaml").exists())


def run_validate(case: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, list[str]]:
    monkeypatch.chdir(case)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", FIXED_EPOCH)
    result = CliRunner().invoke(cli, ["validate", *args], catch_exceptions=False)
    return result.exit_code, result.output.splitlines()


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 45
    for case in CASES:
        assert (case / "expected.txt").exists(), f"{case.name} has no expected.txt"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case(case: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = (case / "expected.txt").read_text(encoding="utf-8").splitlines()
    exit_file = case / "exit"
    expected_exit = int(exit_file.read_text().strip()) if exit_file.exists() else 1
    code, lines = run_validate(case, monkeypatch)
    *diagnostics, summary = lines
    assert diagnostics == expected
    assert code == expected_exit
    status = "invalid" if expected_exit else "valid"
    assert summary.startswith(f"mlopsc: mlops.yaml: {status} (")
    assert "Traceback" not in "\n".join(lines)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case_json_agrees_with_text(case: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The JSON rendering carries the same problems, at the same places, as the text one."""
    import json

    expected = (case / "expected.txt").read_text(encoding="utf-8").splitlines()
    _, lines = run_validate(case, monkeypatch, "--format", "json")
    items = json.loads("\n".join(lines))
    heads = [line for line in expected if not line.startswith("  hint: ")]
    # JSON carries the raw text; the text format escapes control characters
    assert [
        f"{d['file']}:{d['line']}:{d['column']}: {d['severity']}[{d['code']}]: "
        + printable(d["message"])
        for d in items
    ] == heads
