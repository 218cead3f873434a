"""kill -9 at any instant of a build: check tells the truth afterwards, and the next build
finishes with exit 0, leaving exactly the new build and nothing of the interrupted one."""

from __future__ import annotations

import os
import pickle
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from compiler.artifact import Artifact
from compiler.build import compile_outputs
from compiler.diagnostics import Sink
from compiler.emit import LockInfo, check_outputs, write_outputs
from compiler.pipeline import check_spec
from tests.conftest import FIXED_EPOCH, ROOT, run_mlopsc

sys.path.insert(0, str(ROOT / "bench"))
from gen_spec import spec as gen_spec

RUNS = 50
# Writes the pickled build, saying "go" once imports are done so that kills land in the write.
RUNNER = """
import pickle, sys
from compiler.emit import write_outputs
out, artifacts, info = pickle.load(open(sys.argv[1], "rb"))
print("go", flush=True)
write_outputs(out, artifacts, info)
"""


def compile_spec(path: Path) -> tuple[list[Artifact], LockInfo]:
    sink = Sink()
    checked = check_spec(str(path), sink)
    assert checked is not None, sink.sorted()
    compiled = compile_outputs(checked, sink)
    assert compiled is not None, sink.sorted()
    return compiled.artifacts, compiled.info


def files(root: Path) -> dict[str, bytes]:
    """Every non-folder under root (links and special files would show as stray)."""
    found: dict[str, bytes] = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            path = Path(dirpath) / name
            found[str(path.relative_to(root))] = (
                path.read_bytes() if path.is_file() and not path.is_symlink() else b"<special>"
            )
    return found


def start(job: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", RUNNER, str(job)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None and proc.stdout.readline() == "go\n"
    return proc


def kill_build(job: Path, delay: float) -> None:
    proc = start(job)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.stdout is not None
    proc.stdout.close()


def assert_truthful(
    out: Path, builds: dict[str, Any], expected: dict[str, dict[str, bytes]]
) -> None:
    """check never calls OUT up to date unless it is exactly that build, byte for byte."""
    for name, (artifacts, info) in builds.items():
        if check_outputs(str(out), artifacts, info) == []:
            assert files(out) == expected[name], name


def test_kill_9_at_random_instants_then_rebuild(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", FIXED_EPOCH)
    specs = {"a": gen_spec(30), "b": gen_spec(24).replace("ab" * 32, "cd" * 32)}
    builds: dict[str, Any] = {}
    expected: dict[str, dict[str, bytes]] = {}
    jobs: dict[str, Path] = {}
    durations: list[float] = []
    out = tmp_path / "out"
    for name, text in specs.items():
        path = tmp_path / name / "mlops.yaml"
        path.parent.mkdir()
        path.write_text(text)
        builds[name] = compile_spec(path)
        fresh = tmp_path / f"fresh-{name}"
        write_outputs(str(fresh), *builds[name])
        expected[name] = files(fresh)
        jobs[name] = tmp_path / f"{name}.pickle"
        jobs[name].write_bytes(pickle.dumps((str(out), *builds[name])))
    assert len(expected["a"]) > 200 and expected["a"].keys() != expected["b"].keys()
    for name in ("a", "b", "a"):  # how long a whole write takes, to spread the kills over it
        began = time.perf_counter()
        proc = start(jobs[name])
        assert proc.wait() == 0
        assert proc.stdout is not None
        proc.stdout.close()
        durations.append(time.perf_counter() - began)
    window = max(durations) * 1.1
    rng = random.Random(20270101)
    for run in range(RUNS):
        killed = rng.choice("ab")
        kill_build(jobs[killed], rng.uniform(0, window))
        if run % 4 == 3:  # a second kill, of a build that recovers from the first
            kill_build(jobs["b" if killed == "a" else "a"], rng.uniform(0, window))
        assert_truthful(out, builds, expected)
        rerun = rng.choice("ab")
        write_outputs(str(out), *builds[rerun])
        assert check_outputs(str(out), *builds[rerun]) == [], run
        assert files(out) == expected[rerun], run


def test_kill_9_of_the_command_then_check_and_build(tmp_path: Path) -> None:
    spec = ROOT / "examples" / "payments-ml" / "mlops.yaml"
    out = tmp_path / "out"
    env = {**os.environ, "SOURCE_DATE_EPOCH": FIXED_EPOCH, "PYTHONPATH": str(ROOT)}
    began = time.perf_counter()
    assert run_mlopsc("build", str(spec), "-o", str(tmp_path / "fresh")).returncode == 0
    whole = time.perf_counter() - began
    expected = files(tmp_path / "fresh")
    rng = random.Random(7)
    for _ in range(2):
        proc = subprocess.Popen(
            [sys.executable, "-m", "compiler", "build", str(spec), "-o", str(out)],
            env=env,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.5, 1.0) * whole)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        check = run_mlopsc("check", str(spec), "-o", str(out))
        assert "Traceback" not in check.stderr
        if check.returncode == 0:
            assert files(out) == expected
        rebuilt = run_mlopsc("build", str(spec), "-o", str(out))
        assert rebuilt.returncode == 0, rebuilt.stderr
        assert run_mlopsc("check", str(spec), "-o", str(out)).returncode == 0
        assert files(out) == expected
