"""The promotion to an approval environment judges the KServe canaries of the environment
before it (`mlopsc canary-check`) before it commits or releases anything, in GitHub and GitLab."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import HTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from compiler.targets import ci_common as ci
from tests.conftest import EXAMPLES, ROOT, run_mlopsc
from tests.test_canary_check import FakePrometheus, vector
from tests.test_ci_more import (
    AZURE,
    CLOUDFORMATION,
    JENKINSFILE,
    cfn_lint,
    cfn_template,
    check_jsonschema,
    groovy_parses,
)

PAYMENTS = next(p for p in EXAMPLES if p.name == "payments-ml")
GITHUB = "github/workflows/mlopsc-promote.yml"
GITLAB = "gitlab/mlops.gitlab-ci.yml"
STAGING_PROMETHEUS = "prometheus_url: http://prometheus-operated.monitoring.svc:9090"


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def canary_steps(job: dict[str, Any]) -> list[int]:
    return [i for i, s in enumerate(job["steps"]) if "canary-check" in s.get("run", "")]


def test_production_checks_the_staging_canary_before_it_commits_or_releases(
    built_examples: dict[str, Path],
) -> None:
    out = built_examples["payments-ml"]
    flow = load(out / GITHUB)
    staging, production = flow["jobs"]["deploy-staging"], flow["jobs"]["deploy-production"]
    assert canary_steps(staging) == []
    [at] = canary_steps(production)
    step = production["steps"][at]
    assert step["run"] == ci.CANARY_CHECK
    assert step["env"] == {"MLOPSC_CANARY_ENVIRONMENT": "staging"}
    runs = [s.get("run", "") for s in production["steps"]]
    commit = next(i for i, r in enumerate(runs) if "git add" in r)
    release = next(i for i, r in enumerate(runs) if "refs/heads/$RELEASE_BRANCH" in r)
    install = next(i for i, r in enumerate(runs) if "pip install" in r)
    assert install < at < commit < release
    assert production["permissions"] == {"contents": "write"}

    pipeline = load(out / GITLAB)
    job = pipeline["mlopsc-promote-production"]
    assert job["script"][0] == ci.CANARY_CHECK
    assert "refs/heads/$MLOPSC_RELEASE_BRANCH" in job["script"][-1]
    assert job["variables"]["MLOPSC_CANARY_ENVIRONMENT"] == "staging"
    assert "canary-check" not in str(pipeline["mlopsc-promote-staging"])


def test_no_step_where_no_kserve_candidate_ran(
    built_examples: dict[str, Path], tmp_path: Path
) -> None:
    # recsys: a runtime deployment canary, which Argo Rollouts judges in the cluster.
    recsys = built_examples["recsys"]
    assert "canary" in (ROOT / "examples/recsys/mlops.yaml").read_text()
    for name in (".github/workflows/mlopsc-promote.yml", GITLAB):
        assert "canary-check" not in (recsys / name).read_text()
    # payments-ml with the candidate's canary only in production: staging serves no canary.
    folder = tmp_path / "spec"
    shutil.copytree(PAYMENTS, folder)
    spec = folder / "mlops.yaml"
    override = "staging: {autoscaling: {min_replicas: 1, max_replicas: 2}}"
    text = spec.read_text()
    assert text.count(override) == 1
    spec.write_text(text.replace(override, override[:-1] + ", rollout: {strategy: rolling}}"))
    done = run_mlopsc("build", str(spec), "-o", str(tmp_path / "out"), "--only", "github,gitlab")
    assert done.returncode == 0, done.stderr
    for name in (GITHUB, GITLAB):
        assert "canary-check" not in (tmp_path / "out" / name).read_text()


@pytest.fixture
def prometheus() -> Iterator[str]:
    FakePrometheus.queries = []
    server = HTTPServer(("127.0.0.1", 0), FakePrometheus)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def run_step(built: Path, tmp_path: Path, prometheus: str) -> subprocess.CompletedProcess[str]:
    """The generated GitHub step, run as the runner runs it (`bash -e`), on a copy of the spec
    whose staging Prometheus is `prometheus`, with `mlopsc` on PATH."""
    folder = tmp_path / "repo"
    shutil.copytree(PAYMENTS, folder)
    spec = folder / "mlops.yaml"
    text = spec.read_text()
    assert text.count(STAGING_PROMETHEUS) == 2  # staging first, then production
    spec.write_text(text.replace(STAGING_PROMETHEUS, f"prometheus_url: {prometheus}", 1))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "mlopsc"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m compiler "$@"\n')
    shim.chmod(0o755)
    flow = load(built / GITHUB)
    job = flow["jobs"]["deploy-production"]
    step = job["steps"][canary_steps(job)[0]]
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {
        **os.environ,
        **flow["env"],
        **job["env"],
        **step["env"],
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": path,
    }
    return subprocess.run(
        ["bash", "-e", "-c", step["run"]],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(("ratio", "code"), [("0.0002", 0), ("0.5", 1), (None, 1)])
def test_the_step_passes_only_a_healthy_canary(
    built_examples: dict[str, Path], tmp_path: Path, prometheus: str, ratio: str | None, code: int
) -> None:
    FakePrometheus.answer = vector(ratio)
    done = run_step(built_examples["payments-ml"], tmp_path, prometheus)
    assert done.returncode == code, done.stdout + done.stderr
    assert len(FakePrometheus.queries) == 2  # fraud-availability and fraud-latency in staging
    assert all('namespace="payments-ml-staging"' in q for q in FakePrometheus.queries)


def test_the_step_fails_when_prometheus_cannot_be_asked(
    built_examples: dict[str, Path], tmp_path: Path
) -> None:
    done = run_step(built_examples["payments-ml"], tmp_path, closed_port())
    assert done.returncode == 2, done.stdout + done.stderr
    assert "cannot query" in done.stderr


@pytest.fixture(scope="module")
def every_ci(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """payments-ml (a KServe canary in staging before the gated production) in every CI."""
    folder = tmp_path_factory.mktemp("every-ci")
    shutil.copytree(PAYMENTS, folder / "spec")
    spec = folder / "spec" / "mlops.yaml"
    systems = "[github, gitlab, azure, cloudbuild, aws, jenkins]"
    spec.write_text(spec.read_text() + f"\noutputs:\n  ci: {systems}\n")
    done = run_mlopsc("build", str(spec), "-o", str(folder / "out"))
    assert done.returncode == 0, done.stderr
    return folder / "out"


def before(script: str, first: str, then: str) -> bool:
    return first in script and then in script and script.index(first) < script.index(then)


@pytest.mark.acceptance  # runs the system's checker (tests/test_ci_more.py)
def test_azure_checks_the_canary_before_it_commits(every_ci: Path) -> None:
    doc = load(every_ci / AZURE)
    stages = {s["stage"]: s for s in doc["stages"]}

    def steps(stage: str) -> list[str]:
        (job,) = stages[stage]["jobs"]
        return [s.get("bash", "") for s in job["strategy"]["runOnce"]["deploy"]["steps"]]

    (job,) = stages["promote_production"]["jobs"]
    assert job["variables"]["MLOPSC_CANARY_ENVIRONMENT"] == "staging"
    runs = steps("promote_production")
    at = runs.index(ci.CANARY_CHECK + "\n")
    assert at < next(i for i, r in enumerate(runs) if "git add" in r)
    assert not any("canary-check" in r for r in steps("promote_staging"))
    check_jsonschema("vendor.azure-pipelines", [every_ci / AZURE])


@pytest.mark.acceptance  # runs the system's checker (tests/test_ci_more.py)
def test_cloudbuild_checks_the_canary_before_it_commits(every_ci: Path) -> None:
    production = load(every_ci / "cloudbuild/mlopsc-promote-production.yaml")
    (step,) = production["steps"]
    assert "MLOPSC_CANARY_ENVIRONMENT=staging" in step["env"]
    script = step["args"][1].replace("$$", "$")
    assert script.startswith("set -euo pipefail\n")
    assert before(script, ci.CANARY_CHECK, "mlopsc build")
    assert "canary-check" not in (every_ci / "cloudbuild/mlopsc-promote-staging.yaml").read_text()
    check_jsonschema("vendor.cloudbuild", sorted((every_ci / "cloudbuild").glob("*.yaml")))


@pytest.mark.acceptance  # runs the system's checker (tests/test_ci_more.py)
def test_jenkins_checks_the_canary_before_it_commits(every_ci: Path) -> None:
    text = (every_ci / JENKINSFILE).read_text()
    staging = text.index("stage('Promote to staging')")
    production = text.index("stage('Promote to production')")
    assert "canary-check" not in text[staging:production]
    rest = text[production:]
    assert "MLOPSC_CANARY_ENVIRONMENT = 'staging'" in rest
    assert before(rest, ci.CANARY_CHECK, "mlopsc build")
    groovy_parses(every_ci / JENKINSFILE)


@pytest.mark.acceptance  # runs the system's checker (tests/test_ci_more.py)
def test_aws_checks_the_canary_before_it_commits(every_ci: Path) -> None:
    template = cfn_template(every_ci / CLOUDFORMATION)
    actions = {
        stage["Name"]: {a["Name"]: a for a in stage["Actions"]}
        for stage in template["Resources"]["PromotePipeline"]["Properties"]["Stages"]
    }
    envs = {
        name: json.loads(acts["Promote"]["Configuration"]["EnvironmentVariables"])
        for name, acts in actions.items()
        if "Promote" in acts
    }
    canary = {
        name: [v["value"] for v in env if v["name"] == "MLOPSC_CANARY_ENVIRONMENT"]
        for name, env in envs.items()
    }
    assert sorted(canary.values()) == [[], ["staging"]]
    assert (every_ci / CLOUDFORMATION).read_text().count("canary-check") == 1
    script = template["Resources"]["PromoteProject"]["Properties"]["Source"]["BuildSpec"]
    assert before(script, ci.CANARY_CHECK, "mlopsc build")
    cfn_lint(every_ci / CLOUDFORMATION)
