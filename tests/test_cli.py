"""compiler/cli.py (validate, schema, rules, explain): exit codes and output."""

from __future__ import annotations

import json
from pathlib import Path

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
