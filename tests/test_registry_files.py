"""`mlopsc resolve` for files kept by DVC (a real DVC repository with a local remote, in a
temporary git repository) and by Git LFS (a real pointer made by git-lfs)."""

from __future__ import annotations

import hashlib
import importlib
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, require_tool, run_mlopsc

SPEC = ROOT / "tests" / "data" / "registry.yaml"
IMAGE = "ghcr.io/acme/server@sha256:" + "1" * 64
# Neither DVC nor git may read the user's configuration or write outside the test's folder.
ISOLATED = {
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "DVC_NO_ANALYTICS": "1",
}


def run(folder: Path, *args: str, home: Path) -> str:
    env = {**os.environ, **ISOLATED, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}
    done = subprocess.run(args, cwd=folder, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return done.stdout


def git(folder: Path, *args: str, home: Path) -> str:
    return run(
        folder, "git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args, home=home
    )


def write_spec(folder: Path, *replace: tuple[str, str]) -> Path:
    text = SPEC.read_text(encoding="utf-8")
    for old, new in replace:
        assert old in text
        text = text.replace(old, new)
    spec = folder / "mlops.yaml"
    spec.write_text(text, encoding="utf-8")
    return spec


def deployment(uri: str) -> tuple[tuple[str, str], ...]:
    """Replacements: the model's artifact at `uri`, served by a Deployment."""
    return (
        ("models:/credit-risk@champion", uri),
        ("runtime: kserve", f"runtime: deployment\n      image: {IMAGE}"),
    )


@pytest.fixture
def dvc_repo(tmp_path: Path) -> tuple[Path, Path]:
    importlib.import_module("dvc")  # the dev extra installs it: missing fails, never skips
    dvc = require_tool("dvc", "pip install 'mlopsc[dvc]'")
    home = tmp_path / "home"
    home.mkdir()
    repo = tmp_path / "repo"
    (repo / "data").mkdir(parents=True)
    (repo / "models").mkdir()
    git(repo, "init", "-q", home=home)
    run(repo, dvc, "init", "-q", home=home)
    run(repo, dvc, "remote", "add", "-d", "local", str(tmp_path / "remote"), home=home)
    (repo / "data" / "train.csv").write_text("customer_id,purchases_7d\n1,3\n")
    (repo / "models" / "model.pkl").write_bytes(b"model v1")
    run(repo, dvc, "add", "-q", "data/train.csv", "models/model.pkl", home=home)
    run(repo, dvc, "push", "-q", home=home)
    git(repo, "add", "-A", home=home)
    git(repo, "commit", "-qm", "data and model", home=home)
    return repo, home


def dvc_md5(repo: Path, path: str) -> str:
    """The md5 DVC wrote in the .dvc file (read with PyYAML, not with mlopsc's loader)."""
    import yaml

    data = yaml.safe_load((repo / f"{path}.dvc").read_text())
    return f"md5:{data['outs'][0]['md5']}"


def test_dvc_data_and_model_hashes_follow_dvc_commit(dvc_repo: tuple[Path, Path]) -> None:
    repo, home = dvc_repo
    spec = write_spec(
        repo,
        *deployment("dvc://models/model.pkl"),
        (
            "    timestamp_field: event_ts\n",
            "    timestamp_field: event_ts\n    dvc: data/train.csv\n",
        ),
        (
            "    serving:\n",
            f'    training:\n      image: {IMAGE}\n      data: [events]\n      resources: {{cpu: "1", memory: 1Gi}}\n    serving:\n',
        ),
    )
    unresolved = run_mlopsc("validate", str(spec))
    assert unresolved.returncode == 1
    assert unresolved.stderr.count("error[MLC350]") == 2  # the model and the source

    first = run_mlopsc("resolve", str(spec), env=ISOLATED)
    assert first.returncode == 0, first.stderr
    built = run_mlopsc("build", str(spec), "-o", str(repo / "out"), "--only", "docs")
    assert built.returncode == 0, built.stderr
    lock = (repo / "mlops.lock.yaml").read_text()
    data_md5 = dvc_md5(repo, "data/train.csv")
    model_md5 = dvc_md5(repo, "models/model.pkl")
    assert f"  events:\n    path: data/train.csv\n    registry: dvc\n    hash: {data_md5}\n" in lock
    assert f"    version: {model_md5}\n" in lock
    # The model's copy in the default remote, where DVC's content-addressed layout puts it.
    digest = model_md5.removeprefix("md5:")
    remote = repo.parent / "remote" / "files" / "md5" / digest[:2] / digest[2:]
    assert f"    storage_uri: {remote}\n" in lock
    assert remote.read_bytes() == b"model v1"
    assert run_mlopsc("validate", str(spec)).returncode == 0
    # Which data trained the model, and which model file: the card, the report, the lineage.
    card = (repo / "out" / "docs" / "model-cards" / "credit-risk.md").read_text()
    assert f"`s3://my-bucket/events/ (DVC {data_md5})`" in card
    assert f"| Registry version | `{model_md5}` |" in card
    report = (repo / "out" / "docs" / "compliance-report.md").read_text()
    assert f"file · DVC {data_md5[:16]}" in report  # the lineage graph
    html = (repo / "out" / "docs" / "compliance-report.html").read_text()
    assert f"<tr><th>Registry version</th><td><code>{model_md5}</code></td></tr>" in html

    (repo / "data" / "train.csv").write_text("customer_id,purchases_7d\n1,4\n")
    run(repo, "dvc", "commit", "-f", "-q", "data/train.csv.dvc", home=home)
    again = run_mlopsc("resolve", str(spec), env=ISOLATED)
    assert again.returncode == 0, again.stderr
    new_md5 = dvc_md5(repo, "data/train.csv")
    assert new_md5 != data_md5
    assert f"    hash: {new_md5}\n" in (repo / "mlops.lock.yaml").read_text()
    assert f"source events {data_md5[:16]} -> {new_md5[:16]}" in again.stdout


def test_dvc_untracked_file_leaves_the_lock(dvc_repo: tuple[Path, Path]) -> None:
    repo, _ = dvc_repo
    spec = write_spec(repo, *deployment("dvc://models/missing.pkl"))
    done = run_mlopsc("resolve", str(spec), env=ISOLATED)
    assert done.returncode == 1, done.stderr
    assert "error[MLC350]" in done.stderr and "missing.pkl" in done.stderr
    assert not (repo / "mlops.lock.yaml").exists()


def test_lfs_pointer_oid_is_the_digest(tmp_path: Path) -> None:
    require_tool("git-lfs", "apt-get install git-lfs (scripts/install-checkers.sh)")
    home = tmp_path / "home"
    home.mkdir()
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", home=home)
    git(repo, "lfs", "install", "--local", home=home)
    git(repo, "lfs", "track", "*.onnx", home=home)
    content = b"\x08\x07onnx model bytes"
    (repo / "model.onnx").write_bytes(content)
    git(repo, "add", ".gitattributes", "model.onnx", home=home)
    git(repo, "commit", "-qm", "model", home=home)
    pointer = git(repo, "cat-file", "blob", "HEAD:model.onnx", home=home)
    assert pointer.startswith("version https://git-lfs.github.com/spec/v1\n")  # a real pointer
    oid = "sha256:" + hashlib.sha256(content).hexdigest()

    spec = write_spec(repo, *deployment("lfs://model.onnx"))
    done = run_mlopsc("resolve", str(spec), env=ISOLATED)
    assert done.returncode == 0, done.stderr
    lock = (repo / "mlops.lock.yaml").read_text()
    assert f"    registry: lfs\n    version: {oid}\n    digest: {oid}\n" in lock

    pinned = write_spec(repo, *deployment(f"lfs://model.onnx\n      digest: sha256:{'0' * 64}"))
    wrong = run_mlopsc("validate", str(pinned))
    assert wrong.returncode == 1 and "error[MLC351]" in wrong.stderr
    # located at the digest, naming both digests and where the registry's answer is recorded
    assert f"the spec's digest sha256:{'0' * 64} is not the registry's" in wrong.stderr
    assert "mlops.lock.yaml" in wrong.stderr

    (repo / "plain.onnx").write_bytes(b"not a pointer")  # tracked by pattern, never added
    not_lfs = write_spec(repo, *deployment("lfs://plain.onnx"))
    refused = run_mlopsc("resolve", str(not_lfs), env=ISOLATED)
    assert refused.returncode == 1 and "not a Git LFS pointer" in refused.stderr
