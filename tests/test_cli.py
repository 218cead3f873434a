"""compiler/cli.py (validate, schema, rules, explain): exit codes and output."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from helpers import BASE, ROOT, edit

from compiler import diagnostics as dx
from compiler.cli import cli
from compiler.governance.rules import RULES


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1798761600")
    path = tmp_path / "mlops.yaml"
    path.write_text(BASE)
    return path


def test_valid_is_exit_0(spec: Path) -> None:
    code, out, err = run("validate")
    assert code == 0 and out == ""
    assert err == "mlopsc: mlops.yaml: valid (0 errors, 0 warnings)\n"


def test_invalid_is_exit_1(spec: Path) -> None:
    spec.write_text(edit(BASE, ("  owner: ml\n", "  owner: mlx\n")))
    code, _, err = run("validate", "mlops.yaml")
    assert code == 1
    assert err.splitlines()[0] == "mlops.yaml:5:10: error[MLC303]: unknown team 'mlx'"
    assert err.endswith("invalid (1 error, 0 warnings)\n")


@pytest.mark.parametrize(
    "args", [("validate", "nope.yaml"), ("validate", "."), ("validate", "--format", "xml")]
)
def test_usage_problems_are_exit_2(spec: Path, args: tuple[str, ...]) -> None:
    code, _, err = run(*args)
    assert code == 2 and "Traceback" not in err


def test_warnings_pass_unless_strict(spec: Path) -> None:
    waiver = "  waivers:\n    - {rule: BASE-002, target: recommender, reason: r, approved_by: ml, expires: 2027-06-01}\n"
    spec.write_text(
        edit(BASE, ("  frameworks: [baseline]\n", "  frameworks: [baseline]\n" + waiver))
    )
    assert run("validate")[0] == 0
    code, _, err = run("validate", "--strict")
    assert code == 1 and "warning[MLC323]" in err


def test_several_specs_are_all_reported(spec: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.yaml"
    other.write_text(edit(BASE, ("    version: 1.0.0", "    version: 1.0")))
    code, _, err = run("validate", "mlops.yaml", "other.yaml")
    assert code == 1
    assert err.splitlines()[0].startswith("other.yaml:31:14: error[MLC210]")
    assert "mlops.yaml, other.yaml: invalid" in err


def test_json_and_sarif_go_to_stdout(spec: Path) -> None:
    spec.write_text(edit(BASE, ("  owner: ml\n", "  owner: mlx\n")))
    code, out, _ = run("validate", "--format", "json")
    assert code == 1 and json.loads(out)[0]["code"] == "MLC303"
    code, out, _ = run("validate", "--format", "sarif")
    sarif = json.loads(out)
    assert (
        sarif["runs"][0]["tool"]["driver"]["rules"][0]["shortDescription"]["text"] == "unknown team"
    )
    code, out, _ = run("validate", "--format", "github")
    assert out.startswith("::error file=mlops.yaml,line=5,col=10,title=MLC303::")


def test_a_bug_is_exit_3_in_one_line(spec: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: object, **__: object) -> None:
        raise KeyError("boom")

    monkeypatch.setattr("compiler.pipeline.validate_project", broken)
    code, _, err = run("validate")
    assert code == 3
    assert len(err.strip().splitlines()) == 1
    assert "internal error (KeyError: 'boom')" in err and "Traceback" not in err
    result = CliRunner().invoke(cli, ["--debug", "validate"])
    assert isinstance(result.exception, KeyError)  # --debug lets the traceback through


def test_schema_prints_the_committed_file() -> None:
    code, out, _ = run("schema")
    assert code == 0
    assert out == (ROOT / "schemas" / "mlops-v1.schema.json").read_text(encoding="utf-8")


def test_rules_lists_every_rule() -> None:
    code, out, _ = run("rules")
    assert code == 0
    listed = [line.split()[0] for line in out.splitlines()]
    assert listed == sorted(RULES)
    code, out, _ = run("rules", "--pack", "gdpr")
    assert [line.split()[0] for line in out.splitlines()] == sorted(
        r for r in RULES if r.startswith("GDPR")
    )


def test_explain() -> None:
    code, out, _ = run("explain", "mlc302")
    assert code == 0 and out.startswith("MLC302: unknown feature\n")
    code, out, _ = run("explain", "EUAI-012")
    assert code == 0 and "Art. 14(4)" in out
    code, _, err = run("explain", "MLC9999")
    assert code == 1 and "unknown code 'MLC9999'" in err
    for c in dx.codes():
        assert run("explain", c)[0] == 0


def test_validate_imports_nothing_heavy(tmp_path: Path) -> None:
    """validate runs in every pre-commit: no kubernetes, jinja2 or jsonschema, and no CEL
    engine unless the spec has policies."""
    import subprocess
    import sys

    probe = (
        "import sys\n"
        "from compiler.cli import cli\n"
        "try:\n"
        "    cli.main(args=['validate', sys.argv[1]], prog_name='mlopsc')\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = ('kubernetes', 'jinja2', 'jsonschema', 'cel_expr_python')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & set(heavy)))\n"
    )
    root = Path(__file__).resolve().parent.parent
    with_policies = root / "examples" / "payments-ml" / "mlops.yaml"
    text = with_policies.read_text()
    without = tmp_path / "mlops.yaml"
    without.write_text(text[: text.index("  policies:")] + text[text.index("  waivers:") :])
    seen = {}
    for name, spec in (("policies", with_policies), ("none", without)):
        done = subprocess.run(
            [sys.executable, "-c", probe, str(spec)],
            capture_output=True,
            text=True,
            cwd=root,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        seen[name] = done.stdout.strip().splitlines()[-1]
    assert seen["none"] == "[]"
    assert seen["policies"] == "['cel_expr_python']"


# --- one error handler: exit codes for hostile input, a closed pipe ends quietly -----------


def _mlopsc(*args: str, cwd: Path, stdin: int | None = None) -> tuple[int, str]:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "compiler", *args],
        cwd=cwd,
        env={**__import__("os").environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        stdin=stdin,
    )
    return done.returncode, done.stderr


@pytest.mark.parametrize("command", ["rules", "schema", "explain MLC101", "validate"])
def test_a_reader_that_closes_early_ends_quietly(spec: Path, command: str) -> None:
    import subprocess
    import sys

    options = " --format json" if command == "validate" else ""
    # `true` closes the pipe at once, long before the interpreter has started and writes
    script = f"{sys.executable} -m compiler {command}{options} 2>err | true"
    if command == "validate":
        spec.write_text(edit(BASE, ("  owner: ml\n", "  owner: mlx\n")))
    done = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {script}; echo ${{PIPESTATUS[0]}}"],
        cwd=spec.parent,
        env={**__import__("os").environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    err = (spec.parent / "err").read_text()
    assert "Traceback" not in err and "internal error" not in err and "BrokenPipe" not in err
    # the reader going away does not turn a verdict into success: the spec is invalid
    assert done.stdout.strip().splitlines()[-1] == ("1" if command == "validate" else "0")


def test_broken_pipe_maps_to_a_quiet_exit(monkeypatch: pytest.MonkeyPatch) -> None:
    def closed(*_: object, **__: object) -> None:
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(click, "echo", closed)
    result = CliRunner().invoke(cli, ["rules"])
    assert result.exit_code == 0 and result.stderr == ""


@pytest.mark.parametrize("kind", ["fifo", "folder", "device", "missing"])
def test_spec_must_be_a_regular_file(tmp_path: Path, kind: str) -> None:
    import os

    path = tmp_path / "mlops.yaml"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    elif kind == "device":
        path = Path("/dev/zero")
    code, err = _mlopsc("validate", str(path), cwd=tmp_path)
    assert code == 2, err
    words = {
        "fifo": "a FIFO, not a regular file",
        "folder": "is a folder; name the spec file",
        "device": "a device, not a regular file",
        "missing": "no such file",
    }
    assert words[kind] in err and err.startswith("mlopsc: error: ")
    assert len(err.splitlines()) == 1


def test_permission_denied_is_not_no_such_file(spec: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    def denied(path: str, *_: object, **__: object) -> os.stat_result:
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(os, "stat", denied)
    code, _, err = run("validate", "mlops.yaml")
    assert code == 2
    assert err == "mlopsc: error: cannot read mlops.yaml: permission denied\n"


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_deep_spec_is_exit_1_with_a_location(tmp_path: Path, depth: int) -> None:
    (tmp_path / "mlops.yaml").write_text("a: " + "[" * depth + "]" * depth + "\n")
    code, err = _mlopsc("validate", "mlops.yaml", cwd=tmp_path)
    assert code == 1
    assert err.startswith("mlops.yaml:1:68: error[MLC114]: nesting deeper than 64 levels\n")


def test_a_diagnostic_cannot_forge_a_line(spec: Path) -> None:
    spec.write_text(edit(BASE, ("  owner: ml\n", '  owner: ml\n  "x\\nmlops.yaml:1:1: ok": 1\n')))
    code, _, err = run("validate")
    assert code == 1
    lines = err.splitlines()
    assert lines[0] == (
        "mlops.yaml:6:3: error[MLC219]: key 'x\\nmlops.yaml:1:1: ok' holds a newline (U+000A)"
    )
    code, out, _ = run("validate", "--format", "github")
    assert all(line.startswith("::error ") for line in out.splitlines())
