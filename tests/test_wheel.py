"""The built wheel carries everything mlopsc needs: installed into a fresh virtualenv, it builds
an example, from a folder outside the repository, to the same bytes as the source checkout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import EXAMPLES, FIXED_EPOCH, ROOT, run_mlopsc


def _run(*cmd: str | Path, cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"{cmd}: {done.stdout}{done.stderr}"
    return done.stdout


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_templates_are_a_real_folder_not_a_link() -> None:
    folder = ROOT / "templates"
    assert folder.is_dir() and not folder.is_symlink()
    assert sorted(p.name for p in folder.iterdir()) == [
        "compliance-report.html.j2",
        "compliance-report.md.j2",
        "diff.md.j2",
        "model-card.md.j2",
    ]
    links = subprocess.run(
        ["git", "ls-files", "-s"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert [line for line in links.splitlines() if line.startswith("120000")] == []


def test_the_installed_wheel_builds_an_example_like_the_source(tmp_path: Path) -> None:
    # The tracked files only (as a fresh clone has them), so the build leaves the checkout alone.
    source = tmp_path / "src"
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file() and not name.startswith("tests/snapshots/"):
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["SOURCE_DATE_EPOCH"] = FIXED_EPOCH
    wheels = tmp_path / "wheels"
    pip = (sys.executable, "-m", "pip")
    _run(
        *pip,
        "wheel",
        "-q",
        "--no-deps",
        "--no-build-isolation",
        "-w",
        wheels,
        ".",
        cwd=source,
        env=env,
    )
    (wheel,) = wheels.glob("mlopsc-*.whl")

    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--system-site-packages", venv, cwd=tmp_path, env=env)
    python = venv / "bin" / "python"
    _run(
        python,
        "-m",
        "pip",
        "install",
        "-q",
        "--no-deps",
        "--force-reinstall",
        wheel,
        cwd=tmp_path,
        env=env,
    )
    shutil.rmtree(source)  # nothing of the checkout is left to fall back on

    where = _run(
        python,
        "-c",
        "import compiler, compiler.render.markdown as m; print(compiler.__file__); print(m.templates())",
        cwd=tmp_path,
        env=env,
    ).split()
    assert all(Path(p).is_relative_to(venv) for p in where), where
    assert Path(where[1]).name == "templates"

    example = next(e for e in EXAMPLES if e.name == "payments-ml") / "mlops.yaml"
    work = tmp_path / "elsewhere"
    work.mkdir()
    _run(venv / "bin" / "mlopsc", "build", example, "-o", work / "out", cwd=work, env=env)
    from_source = tmp_path / "from-source"
    done = run_mlopsc("build", str(example), "-o", str(from_source))
    assert done.returncode == 0, done.stderr

    installed = _files(work / "out")
    assert "docs/compliance-report.html" in installed
    assert "docs/model-cards/fraud-detector.md" in installed
    assert installed == _files(from_source)
