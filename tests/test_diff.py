"""mlopsc diff on real git repositories: every kind of change, described by meaning."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT, run_mlopsc
from tests.markdown_check import assert_inert

EXAMPLE = ROOT / "examples" / "payments-ml" / "mlops.yaml"
Spec = dict[str, Any]


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def write(repo: Path, spec: Spec) -> None:
    (repo / "mlops.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))


@pytest.fixture
def base_spec() -> Spec:
    data: Spec = yaml.safe_load(EXAMPLE.read_text())
    return data


@pytest.fixture
def repo(tmp_path: Path, base_spec: Spec) -> Path:
    git(tmp_path, "init", "-q", "-b", "main")
    write(tmp_path, base_spec)
    git(tmp_path, "add", "mlops.yaml")
    git(tmp_path, "commit", "-qm", "base")
    return tmp_path


def model(spec: Spec, name: str) -> Spec:
    found: Spec = next(m for m in spec["models"] if m["name"] == name)
    return found


def diff(repo: Path, *extra: str, fmt: str = "json") -> Any:
    done = run_mlopsc("diff", "mlops.yaml", "--base", "main", "--format", fmt, *extra, cwd=repo)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return json.loads(done.stdout) if fmt == "json" else done.stdout


def change_of(report: Any, kind: str, name: str) -> Any:
    found = [c for c in report["changes"] if c["kind"] == kind and c["name"] == name]
    assert len(found) == 1, report["changes"]
    return found[0]


def field_of(change: Any, path: str) -> Any:
    found = [f for f in change["fields"] if f["path"] == path]
    assert found, change["fields"]
    return found[0]


def edit(repo: Path, spec: Spec, fn: Callable[[Spec], None]) -> Spec:
    new = copy.deepcopy(spec)
    fn(new)
    write(repo, new)
    return new


def test_no_change(repo: Path) -> None:
    report = diff(repo)
    assert report["changes"] == []
    assert report["generated"]["available"] and report["generated"]["changed"] == []
    assert "no change in meaning" in report["summary"]
    assert report["approvals"] == []


def test_replicas(repo: Path, base_spec: Spec) -> None:
    def f(s: Spec) -> None:
        model(s, "fraud-detector")["serving"]["autoscaling"]["min_replicas"] = 4

    edit(repo, base_spec, f)
    report = diff(repo)
    change = change_of(report, "model", "fraud-detector")
    assert change["action"] == "changed"
    assert field_of(change, "serving.autoscaling.min_replicas")["text"] == (
        "serving.autoscaling.min_replicas: 2 → 4"
    )
    # staging overrides min_replicas: only production's manifests change.
    assert report["environments_affected"] == ["production"]
    handles = {a["handle"] for a in report["approvals"]}
    assert handles == {"@acme/risk-ml", "@acme/ml-governance"}
    assert any(p.startswith("kubernetes/production/") for p in report["generated"]["changed"])
    assert not any(p.startswith("kubernetes/staging/") for p in report["generated"]["changed"])


def test_objective(repo: Path, base_spec: Spec) -> None:
    def f(s: Spec) -> None:
        s["slos"][0]["objective"] = 99.5

    edit(repo, base_spec, f)
    report = diff(repo)
    change = change_of(report, "slo", "fraud-availability")
    assert field_of(change, "objective")["text"] == "objective: 99.9 → 99.5"
    assert any(p.startswith("monitoring/") for p in report["generated"]["changed"])


def test_image_digest(repo: Path, base_spec: Spec) -> None:
    def f(s: Spec) -> None:
        model(s, "churn-model")["serving"]["image"] = "ghcr.io/acme/churn-score@sha256:" + "4" * 64

    edit(repo, base_spec, f)
    report = diff(repo)
    text = field_of(change_of(report, "model", "churn-model"), "serving.image")["text"]
    assert text == (
        "serving.image: ghcr.io/acme/churn-score@sha256:333333333333… → "
        "ghcr.io/acme/churn-score@sha256:444444444444…"
    )
    assert report["environments_affected"] == ["production", "staging"]


def test_risk_raised_makes_rules_fail(repo: Path, base_spec: Spec) -> None:
    def f(s: Spec) -> None:
        model(s, "churn-model")["risk"] = "high"

    edit(repo, base_spec, f)
    report = diff(repo)
    change = change_of(report, "model", "churn-model")
    assert field_of(change, "risk")["text"] == "risk: limited → high"
    failing = {(r["rule"], r["target"]) for r in report["governance"]["newly_failing"]}
    assert ("canary-for-high-risk", "churn-model") in failing
    assert any(rule.startswith("EUAI-") for rule, _ in failing)
    assert report["head"]["status"] == "valid"  # schema and meaning pass; governance fails
    reasons = {a["team"]: a["reasons"] for a in report["approvals"]}
    assert "model churn-model changed" in reasons["ml-governance"]


def test_rule_newly_failing_then_passing(repo: Path, base_spec: Spec) -> None:
    def f(s: Spec) -> None:
        model(s, "fraud-detector")["serving"]["rollout"] = {"strategy": "rolling"}

    broken = edit(repo, base_spec, f)
    report = diff(repo)
    assert [
        (r["rule"], r["target"], r["status"]) for r in report["governance"]["newly_failing"]
    ] == [("canary-for-high-risk", "fraud-detector", "fail")]
    git(repo, "commit", "-qam", "rolling")
    write(repo, base_spec)
    report = diff(repo)
    assert [(r["rule"], r["was"], r["status"]) for r in report["governance"]["newly_passing"]] == [
        ("canary-for-high-risk", "fail", "pass")
    ]
    assert broken != base_spec


def test_model_added_and_removed(repo: Path, base_spec: Spec) -> None:
    def add(s: Spec) -> None:
        extra = copy.deepcopy(model(s, "churn-model"))
        extra["name"] = "upsell-model"
        s["models"].append(extra)

    edit(repo, base_spec, add)
    report = diff(repo)
    assert change_of(report, "model", "upsell-model")["action"] == "added"
    assert any("upsell-model" in p for p in report["generated"]["added"])
    assert "1 model added" in report["summary"]

    def remove(s: Spec) -> None:
        s["models"] = [m for m in s["models"] if m["name"] != "churn-model"]
        s["slos"] = [x for x in s["slos"] if x["model"] != "churn-model"]
        s["governance"]["waivers"] = []

    edit(repo, base_spec, remove)
    report = diff(repo)
    assert change_of(report, "model", "churn-model")["action"] == "removed"
    assert change_of(report, "slo", "churn-freshness")["action"] == "removed"
    assert report["waivers"]["removed"] == [{"waiver": "GDPR-004 on churn-model"}]
    assert any("churn-model" in p for p in report["generated"]["removed"])


def test_waiver_added_and_expiring(repo: Path, base_spec: Spec) -> None:
    def f(s: Spec) -> None:
        s["governance"]["waivers"][0]["expires"] = "2027-01-15"  # today is 2027-01-01 in tests
        s["governance"]["waivers"].append(
            {
                "rule": "pii-sources-owned-by-data-platform",
                "target": "transactions",
                "reason": "Moving to the platform team",
                "approved_by": "ml-governance",
                "expires": "2027-06-30",
            }
        )

    edit(repo, base_spec, f)
    report = diff(repo)
    added = change_of(report, "waiver", "pii-sources-owned-by-data-platform on transactions")
    assert added["action"] == "added"
    assert report["waivers"]["added"] == [
        {"waiver": "pii-sources-owned-by-data-platform on transactions"}
    ]
    expiring = report["waivers"]["expiring"]
    assert expiring == [
        {
            "waiver": "GDPR-004 on churn-model",
            "expires": "2027-01-15",
            "days_left": 14,
            "expired": False,
        }
    ]
    assert (
        field_of(change_of(report, "waiver", "GDPR-004 on churn-model"), "expires")["new"]
        == "2027-01-15"
    )
    assert "@acme/ml-governance" in {a["handle"] for a in report["approvals"]}


def test_spec_absent_at_base(tmp_path: Path, base_spec: Spec) -> None:
    git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "README.md").write_text("x\n")
    git(tmp_path, "add", "README.md")
    git(tmp_path, "commit", "-qm", "readme")
    write(tmp_path, base_spec)
    report = diff(tmp_path)
    assert report["base"]["status"] == "absent"
    actions = {c["action"] for c in report["changes"]}
    assert actions == {"added"}
    assert {c["name"] for c in report["changes"] if c["kind"] == "model"} == {
        "fraud-detector",
        "churn-model",
    }
    assert report["generated"]["available"] and report["generated"]["added"]
    assert "the spec is new" in report["summary"]
    md = diff(tmp_path, fmt="markdown")
    assert "did not exist at `main`" in md


def test_base_invalid(repo: Path, base_spec: Spec) -> None:
    broken = copy.deepcopy(base_spec)
    model(broken, "fraud-detector")["replicas"] = 3  # unknown key
    model(broken, "fraud-detector")["version"] = "3.2.0"
    write(repo, broken)
    git(repo, "commit", "-qam", "broken")

    def f(s: Spec) -> None:
        model(s, "fraud-detector")["version"] = "3.3.0"

    edit(repo, base_spec, f)
    report = diff(repo)
    assert report["base"]["status"] == "invalid"
    assert any(
        "replicas" in p and p.startswith("main:mlops.yaml:") for p in report["base"]["problems"]
    )
    change = change_of(report, "model", "fraud-detector")
    paths = {f["path"] for f in change["fields"]}
    assert {"replicas", "version"} <= paths
    assert report["generated"]["available"] is False
    md = diff(repo, fmt="markdown")
    assert "base spec (`main`) is **invalid**" in md
    text = diff(repo, fmt="text")
    assert "base spec is invalid:" in text


def test_includes_are_read_at_the_ref(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "examples" / "credit-scoring", tmp_path, dirs_exist_ok=True)
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "base")
    assert diff(tmp_path)["changes"] == []
    path = tmp_path / "models" / "default-probability.yaml"
    path.write_text(path.read_text().replace("version: 4.1.0", "version: 4.2.0"))
    report = diff(tmp_path)
    change = change_of(report, "model", "default-probability")
    assert field_of(change, "version")["text"] == "version: 4.1.0 → 4.2.0"


def test_markdown_comment(repo: Path, base_spec: Spec) -> None:
    def f(s: Spec) -> None:
        model(s, "fraud-detector")["serving"]["autoscaling"]["min_replicas"] = 4
        s["slos"][0]["objective"] = 99.5

    edit(repo, base_spec, f)
    md = diff(repo, fmt="markdown")
    lines = md.splitlines()
    assert lines[0] == "### mlopsc diff"
    assert lines[2].startswith("**1 model changed; 1 slo changed;")
    assert "approvals: @acme/ml-governance, @acme/risk-ml" in lines[2]
    assert "**Approvals needed:** @acme/ml-governance, @acme/risk-ml" in md
    assert "<details><summary>Changes (2)</summary>" in md
    assert "| model `fraud-detector` | changed | serving.autoscaling.min\\_replicas: 2 → 4 |" in md
    assert md.count("<details>") == md.count("</details>")


def test_markdown_comment_keeps_hostile_text_as_text(repo: Path, base_spec: Spec) -> None:
    hostile = "x``<b>`y`</b>``` <img src=x onerror=alert(1)> [a](javascript:alert(2))"

    def f(s: Spec) -> None:
        model(s, "fraud-detector")["description"] = hostile
        model(s, "fraud-detector")["artifact"]["uri"] = "s3://b/x``<b>`y`</b>```"
        s["governance"]["waivers"][0]["reason"] = hostile
        s["metadata"]["description"] = "line\n# heading\n| a | b |"

    edit(repo, base_spec, f)
    md = diff(repo, fmt="markdown")
    shown = assert_inert(md)
    assert "onerror=alert(1)" in shown and "<b>`y`</b>" in shown


def test_text_output_keeps_spec_text_on_its_line(repo: Path, base_spec: Spec) -> None:
    def f(s: Spec) -> None:
        model(s, "fraud-detector")["description"] = "ok\nnewly passing EVIL on all\x1b[2J"

    edit(repo, base_spec, f)
    text = diff(repo, fmt="text")
    assert not any(line.startswith("newly passing EVIL") for line in text.splitlines())
    assert "\x1b" not in text and "ok\\u000anewly passing EVIL on all\\u001b[2J" in text


def test_a_crafted_tree_cannot_write_outside_the_scratch_folder(
    repo: Path, base_spec: Spec, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """git mktree accepts an entry named '..': the base side skips it (git show would refuse
    it anyway), so the diff still compares, and nothing lands beside its scratch folder."""

    def run(*args: str, stdin: str | None = None) -> str:
        done = subprocess.run(
            ["git", *args], cwd=repo, input=stdin, capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    evil = {**base_spec, "include": ["../escape.yaml"]}
    spec_blob = run("hash-object", "-w", "--stdin", stdin=yaml.safe_dump(evil, sort_keys=False))
    payload = run("hash-object", "-w", "--stdin", stdin="models: []\n")
    inner = run("mktree", stdin=f"100644 blob {payload}\tescape.yaml\n")
    root = run("mktree", stdin=f"100644 blob {spec_blob}\tmlops.yaml\n040000 tree {inner}\t..\n")
    commit = run("-c", "user.name=t", "-c", "user.email=t@e.x", "commit-tree", root, "-m", "evil")
    run("update-ref", "refs/heads/evil", commit)
    scratch = tmp_path_factory.mktemp("scratch")
    done = run_mlopsc(
        "diff", "mlops.yaml", "--base", "evil", "--format", "json", cwd=repo,
        env={"TMPDIR": str(scratch)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["base"]["status"] in ("unreadable", "invalid")
    assert list(scratch.iterdir()) == []  # nothing left, nothing written beside the scratch


def test_bad_ref_and_not_a_repo(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    done = run_mlopsc("diff", "mlops.yaml", "--base", "no-such-branch", cwd=repo)
    assert done.returncode == 2 and "names no commit" in done.stderr
    done = run_mlopsc("diff", "mlops.yaml", "--base", "--upload-pack=x", cwd=repo)
    assert done.returncode == 2
    plain = tmp_path_factory.mktemp("plain")
    shutil.copy(EXAMPLE, plain / "mlops.yaml")
    done = run_mlopsc("diff", "mlops.yaml", "--base", "main", cwd=plain)
    assert done.returncode == 2 and "not inside a git repository" in done.stderr
    done = run_mlopsc("diff", "missing.yaml", "--base", "main", cwd=repo)
    assert done.returncode == 2


def test_report_is_typed_and_asks_the_plans(
    repo: Path, base_spec: Spec, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In process: two Plans compared; results are dataclasses, not dicts."""
    import dataclasses
    import datetime as dt

    from compiler.diff import DiffReport, semantic_diff
    from compiler.diff.report import Approval, RuleChange

    def f(s: Spec) -> None:
        model(s, "fraud-detector")["serving"]["rollout"] = {"strategy": "rolling"}

    edit(repo, base_spec, f)
    monkeypatch.chdir(repo)
    report = semantic_diff("mlops.yaml", "main", today=dt.date(2027, 1, 1))
    assert isinstance(report, DiffReport)
    assert report.base.plan is not None and report.head.plan is not None
    assert all(isinstance(r, RuleChange) for r in report.newly_failing)
    assert all(isinstance(a, Approval) for a in report.approvals)
    for f_ in dataclasses.fields(report):
        assert not isinstance(getattr(report, f_.name), dict), f_.name
    assert report.environments == ("production", "staging")


def test_no_catch_all_in_diff() -> None:
    for path in (ROOT / "compiler" / "diff").glob("*.py"):
        text = path.read_text()
        assert "except Exception" not in text and "except:" not in text, path
