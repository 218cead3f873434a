"""The compliance report: content an auditor relies on, and the HTML in a real browser."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT, example_ids, require_tool, run_mlopsc
from test_docs import build, payments


def _epoch(day: str) -> str:
    return str(int(dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC).timestamp()))


def test_header_summary_and_every_rule(built_examples: dict[str, Path]) -> None:
    report = (built_examples["payments-ml"] / "docs/compliance-report.md").read_text()
    for text in (
        "| Project | `payments-ml` |",
        "sha256 `",
        "mlopsc 0.1.0",
        "EU AI Act (Regulation (EU) 2024/1689)",
        "| churn-model | limited |",
        "| fraud-detector | high |",
        "## Rule results",
        "`canary-for-high-risk` | policy | project policy | model `fraud-detector` | **pass**",
        "| `GDPR-004` | `churn-model` | active | 2027-03-31 | ml-governance",
        "```mermaid",
        "src_transactions --> fv_customer_txn_stats",
        "m_fraud_detector --> env_production",
        "| `transactions` | file `s3://acme-data/transactions/` | data-platform | card\\_number, email | contract | 400d |",
    ):
        assert text in report, text
    assert "EUAI-012` | eu-ai-act | EU AI Act Art. 14(4) | model `fraud-detector`" in report


def test_annex_iv_for_high_risk_models(built_examples: dict[str, Path]) -> None:
    report = (built_examples["credit-scoring"] / "docs/compliance-report.md").read_text()
    for model in ("default-probability", "credit-limit"):
        section = report.split(f"### {model}\n")[1].split("\n### ")[0].split("\n## ")[0]
        rows = [
            line for line in section.splitlines() if line.startswith("| ") and line[2].isdigit()
        ]
        assert [r.split(" | ")[0] for r in rows] == [f"| {i}" for i in range(1, 10)]
        assert (
            "| 8 | Copy of the EU declaration of conformity (Art. 47) | **open** | - |" in section
        )
        assert "☐" in section
    assert "### collections-priority" not in report


def test_no_high_risk_model_says_so(built_examples: dict[str, Path]) -> None:
    report = (built_examples["recsys"] / "docs/compliance-report.md").read_text()
    assert "No model of this project is high-risk" in report
    assert "| 1 | General description" not in report
    html = (built_examples["recsys"] / "docs/compliance-report.html").read_text()
    assert "No model of this project is high-risk" in html


def test_expiring_waiver_is_flagged(tmp_path: Path) -> None:
    code, err, out = build(tmp_path, payments(), env={"SOURCE_DATE_EPOCH": _epoch("2027-03-15")})
    assert code == 0, err
    report = (out / "docs/compliance-report.md").read_text()
    assert "expires within 30 days** (16 days left)" in report
    assert (
        "expires within 30 days (16 days left)" in (out / "docs/compliance-report.html").read_text()
    )


def test_active_waiver_not_flagged(built_examples: dict[str, Path]) -> None:
    report = (built_examples["payments-ml"] / "docs/compliance-report.md").read_text()
    assert "expires within 30 days" not in report


def test_expired_waiver_fails_the_build(tmp_path: Path) -> None:
    spec = payments()
    spec["governance"]["waivers"][0]["expires"] = dt.date(2026, 6, 30)
    code, err, out = build(tmp_path, spec)
    assert code == 1
    assert "expired on 2026-06-30" in err
    assert not out.exists()


def test_violations_are_warnings_in_the_report(tmp_path: Path) -> None:
    spec = payments()
    spec["sources"][1]["owner"] = "risk-ml"  # breaks a warning-severity policy
    code, err, out = build(tmp_path, spec)
    assert code == 0, err
    report = (out / "docs/compliance-report.md").read_text()
    assert (
        "| `pii-sources-owned-by-data-platform` | policy | project policy | source `customer_profiles` | **warning** |"
        in report
    )
    assert "| Project policies (CEL) | 2 | 0 | 0 | 1 |" in report
    assert 'class="badge b-warning">warning<' in (out / "docs/compliance-report.html").read_text()


def test_unused_waiver_is_listed(tmp_path: Path) -> None:
    spec = payments()
    spec["governance"]["waivers"].append(
        {
            "rule": "BASE-001",
            "target": "fraud-detector",
            "reason": "none",
            "approved_by": "ml-governance",
            "expires": dt.date(2027, 12, 31),
        }
    )
    code, err, out = build(tmp_path, spec)
    assert code == 0, err
    assert (
        "| `BASE-001` | `fraud-detector` | unused: matches no violation |"
        in (out / "docs/compliance-report.md").read_text()
    )


def test_report_command_writes_only_docs_with_history(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = run_mlopsc(
        "report",
        str(ROOT / "examples/credit-scoring/mlops.yaml"),
        "-o",
        str(out),
        "--history-depth",
        "5",
    )
    assert done.returncode == 0, done.stderr
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert all(f.startswith("docs/") or f == "mlopsc.lock.json" for f in files), files
    report = (out / "docs/compliance-report.md").read_text()
    assert "## Change history of the spec" in report


def test_history_outside_git_and_in_a_fresh_repo(tmp_path: Path) -> None:
    git = require_tool("git", "apt-get install -y git")
    folder = tmp_path / "proj"
    folder.mkdir()
    shutil.copy(ROOT / "examples/payments-ml/mlops.yaml", folder / "mlops.yaml")
    env = {"GIT_CEILING_DIRECTORIES": str(tmp_path)}
    done = run_mlopsc("report", str(folder / "mlops.yaml"), "-o", str(tmp_path / "a"), env=env)
    assert done.returncode == 0, done.stderr
    assert "not in a git repository" in (tmp_path / "a/docs/compliance-report.md").read_text()
    ident = ["-c", "user.name=Ada & *Bob*", "-c", "user.email=ada@example.com"]
    subprocess.run([git, "init", "-q"], cwd=folder, check=True)
    subprocess.run([git, "add", "mlops.yaml"], cwd=folder, check=True)
    subprocess.run(
        [git, *ident, "commit", "-qm", "spec | first `cut` <script>"],
        cwd=folder,
        check=True,
        env={
            "GIT_AUTHOR_DATE": "2026-05-01T10:00:00Z",
            "GIT_COMMITTER_DATE": "2026-05-01T10:00:00Z",
            "PATH": "/usr/bin:/bin",
        },
    )
    outs = []
    for name in ("b", "c"):
        done = run_mlopsc("report", str(folder / "mlops.yaml"), "-o", str(tmp_path / name), env=env)
        assert done.returncode == 0, done.stderr
        outs.append((tmp_path / name / "docs/compliance-report.md").read_text())
    assert outs[0] == outs[1]
    assert (
        "| 2026-05-01 | Ada &amp; \\*Bob\\* | spec \\| first \\`cut\\` &lt;script&gt; | spec created |"
        in outs[0]
    )
    html = (tmp_path / "b/docs/compliance-report.html").read_text()
    assert "first `cut` &lt;script&gt;" in html and "<script>" not in html


def test_history_says_what_each_commit_changed(tmp_path: Path) -> None:
    git = require_tool("git", "apt-get install -y git")
    folder = tmp_path / "proj"
    folder.mkdir()
    spec = folder / "mlops.yaml"
    shutil.copy(ROOT / "examples/payments-ml/mlops.yaml", spec)
    ident = ["-c", "user.name=A", "-c", "user.email=a@example.com"]
    subprocess.run([git, "init", "-q"], cwd=folder, check=True)
    subprocess.run([git, "add", "mlops.yaml"], cwd=folder, check=True)
    subprocess.run([git, *ident, "commit", "-qm", "first"], cwd=folder, check=True)
    spec.write_text(spec.read_text().replace("objective: 99.9", "objective: 99.5"))
    subprocess.run([git, *ident, "commit", "-qam", "relax"], cwd=folder, check=True)
    spec.write_text(
        spec.read_text().replace("description: Weekly churn", "description: Daily churn")
    )
    subprocess.run([git, *ident, "commit", "-qam", "wording"], cwd=folder, check=True)
    env = {"GIT_CEILING_DIRECTORIES": str(tmp_path)}
    done = run_mlopsc("report", str(spec), "-o", str(tmp_path / "out"), env=env)
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "out/docs/compliance-report.md").read_text()
    assert "| relax | slo fraud-availability: objective 99.9 → 99.5 |" in text
    assert "| wording | model churn-model: description" in text
    assert "| first | spec created |" in text


def _chromium(html: Path, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    tool = require_tool("chromium", "apt-get install -y chromium")
    args = [
        tool,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        *extra,
        f"file://{html}",
    ]
    return subprocess.run(args, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("example", example_ids())
def test_html_renders_in_chromium(
    built_examples: dict[str, Path], example: str, tmp_path: Path
) -> None:
    html = built_examples[example] / "docs/compliance-report.html"
    text = html.read_text()
    # Self-contained: nothing is fetched from anywhere.
    for needle in ("<link", "<script", 'src="http', "@import", "url(http"):
        assert needle not in text, needle
    shot = tmp_path / "shot.png"
    done = _chromium(html, tmp_path, f"--screenshot={shot}", "--window-size=1280,2000")
    assert shot.exists() and shot.stat().st_size > 10_000, done.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    dom = _chromium(html, tmp_path, "--dump-dom").stdout
    assert f"Compliance report: {example}" in dom
    assert "Rule results for" in dom and "<svg" in dom and "GDPR record of processing" in dom
    for card in (built_examples[example] / "docs/model-cards").glob("*.md"):
        assert f'id="model-{card.stem}"' in dom


def test_annex_does_not_import_the_report() -> None:
    import subprocess
    import sys

    code = "import sys, compiler.targets.annex; print('compiler.targets.report' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_docs_target_does_not_import_git_code() -> None:
    import subprocess
    import sys

    code = (
        "import sys, compiler.targets.docs; "
        "print(sorted(m for m in sys.modules if m in ('compiler.gitspec', 'compiler.diff')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_report_renders_the_documents_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    import compiler.targets.docs as docs
    from compiler.cli import cli

    calls: list[object] = []
    real = docs.render_documents

    def counting(plan: object, **kwargs: object) -> object:
        calls.append(kwargs.get("history"))
        return real(plan, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(docs, "render_documents", counting)
    spec = ROOT / "examples" / "recsys" / "mlops.yaml"
    result = CliRunner().invoke(cli, ["report", str(spec), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert len(calls) == 1 and calls[0] is not None


@pytest.mark.parametrize("module", ["report", "docs", "annex", "lineage"])
def test_document_targets_import_only_the_plan_and_the_render_layer(module: str) -> None:
    import ast

    tree = ast.parse((ROOT / "compiler" / "targets" / f"{module}.py").read_text())
    allowed = ("compiler.plan", "compiler.conventions", "compiler.artifact", "compiler.history")
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            if name.startswith("compiler"):
                assert name in allowed or name.startswith(
                    ("compiler.render.", "compiler.targets.")
                ), (module, name)
    assert "plan.index" not in (ROOT / "compiler" / "targets" / f"{module}.py").read_text()
