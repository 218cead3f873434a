"""A build or check after no change to the spec compares OUT with what this machine remembers
of a render of the same inputs (compiler/buildcache.py), and still catches every difference."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from pathlib import Path

from compiler import buildcache
from tests.conftest import run_mlopsc
from tests.helpers import BASE, edit


def build(tmp: Path, cache: Path, *args: str) -> tuple[int, str]:
    done = run_mlopsc(
        *args, env={"MLOPSC_CACHE_DIR": str(cache), "SOURCE_DATE_EPOCH": "1798761600"}
    )
    assert "Traceback" not in done.stderr
    return done.returncode, done.stderr


def setup(tmp_path: Path) -> tuple[Path, Path, Path]:
    spec = tmp_path / "mlops.yaml"
    spec.write_text(BASE)
    return spec, tmp_path / "out", tmp_path / "cache"


def test_a_second_build_writes_nothing_and_says_so(tmp_path: Path) -> None:
    spec, out, cache = setup(tmp_path)
    code, err = build(tmp_path, cache, "build", str(spec), "-o", str(out))
    assert code == 0, err
    assert len(list(cache.glob("*.json"))) == 1
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    code, err = build(tmp_path, cache, "build", str(spec), "-o", str(out))
    assert code == 0, err
    assert "is up to date" in err and "nothing written" in err
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == stamps
    code, err = build(tmp_path, cache, "check", str(spec), "-o", str(out))
    assert (code, "is up to date" in err) == (0, True)


def test_hand_edits_deletions_and_extra_files_are_still_caught(tmp_path: Path) -> None:
    spec, out, cache = setup(tmp_path)
    assert build(tmp_path, cache, "build", str(spec), "-o", str(out))[0] == 0
    target = out / "kubernetes" / "production" / "namespace.yaml"
    target.write_text(target.read_text() + "# edited\n")
    code, err = build(tmp_path, cache, "check", str(spec), "-o", str(out))
    assert code == 1 and "namespace.yaml was edited by hand" in err
    code, err = build(tmp_path, cache, "build", str(spec), "-o", str(out))
    assert code == 1 and "MLC401" in err  # the full build refuses to overwrite the hand edit
    assert build(tmp_path, cache, "build", "--force", str(spec), "-o", str(out))[0] == 0
    (out / "kubernetes" / "production" / "evil.yaml").write_text("kind: Secret\n")
    code, err = build(tmp_path, cache, "check", str(spec), "-o", str(out))
    assert code == 1 and "evil.yaml was not written by mlopsc" in err
    (out / "kubernetes" / "production" / "evil.yaml").unlink()
    (out / "kubernetes" / "production" / "namespace.yaml").unlink()
    code, err = build(tmp_path, cache, "check", str(spec), "-o", str(out))
    assert code == 1 and "namespace.yaml is missing" in err


def test_a_forged_lock_does_not_fool_check(tmp_path: Path) -> None:
    """The lock arrives with the pull request: an edited file with its hash edited in the lock
    is still a hand edit, with this machine's record and without one."""
    spec, out, cache = setup(tmp_path)
    assert build(tmp_path, cache, "build", str(spec), "-o", str(out))[0] == 0
    rel = "kubernetes/production/namespace.yaml"
    forged = (out / rel).read_text() + "---\nkind: Secret\n"
    (out / rel).write_text(forged)
    lock = json.loads((out / "mlopsc.lock.json").read_text())
    import hashlib

    lock["files"][rel]["sha256"] = hashlib.sha256(forged.encode()).hexdigest()
    (out / "mlopsc.lock.json").write_text(json.dumps(lock, indent=2) + "\n")
    for where in (cache, tmp_path / "fresh-cache"):
        code, err = build(tmp_path, where, "check", str(spec), "-o", str(out))
        assert code == 1, err
        assert rel in err


def test_a_changed_spec_renders_again(tmp_path: Path) -> None:
    spec, out, cache = setup(tmp_path)
    assert build(tmp_path, cache, "build", str(spec), "-o", str(out))[0] == 0
    spec.write_text(edit(BASE, ("objective: 99.5", "objective: 99.9")))
    code, err = build(tmp_path, cache, "check", str(spec), "-o", str(out))
    assert code == 1 and "is stale" in err
    code, err = build(tmp_path, cache, "build", str(spec), "-o", str(out))
    assert code == 0 and "written" in err and "nothing written" not in err
    assert len(list(cache.glob("*.json"))) == 2


def test_target_warnings_are_said_again_from_the_record(tmp_path: Path) -> None:
    spec, out, cache = setup(tmp_path)  # BASE has no metadata.repository: argocd is left out
    first = build(tmp_path, cache, "build", str(spec), "-o", str(out))
    second = build(tmp_path, cache, "build", str(spec), "-o", str(out))
    assert "MLC408" in first[1] and "nothing written" in second[1]
    assert [line for line in first[1].splitlines() if "MLC408" in line] == [
        line for line in second[1].splitlines() if "MLC408" in line
    ]


def test_a_stale_record_checks_the_spec_once_and_says_everything_once(tmp_path: Path) -> None:
    """OUT gone while this machine remembers the render: the build renders again without a
    second front end, and says the spec's own warnings and the targets' each once."""
    spec, out, cache = setup(tmp_path)
    spec.write_text(
        edit(
            BASE,
            (
                "      resources: {cpu: 500m, memory: 1Gi}\nslos:",
                "      resources: {cpu: 500m, memory: 1Gi}\n    monitoring:\n      drift: "
                "{features: ['customer_stats:order_count_30d'], threshold: 0.2}\nslos:",
            ),
        )
    )
    env = {"MLOPSC_CACHE_DIR": str(cache), "SOURCE_DATE_EPOCH": "1798761600"}

    def codes(done: subprocess.CompletedProcess[str]) -> list[str]:
        return sorted(d["code"] for d in json.loads(done.stdout))

    first = run_mlopsc("build", str(spec), "-o", str(out), "--format", "json", env=env)
    assert first.returncode == 0, first.stderr
    assert codes(first) == ["MLC341", "MLC408"]
    import shutil

    shutil.rmtree(out)
    again = run_mlopsc("build", str(spec), "-o", str(out), "--format", "json", env=env)
    assert again.returncode == 0, again.stderr
    assert codes(again) == codes(first) and "nothing written" not in again.stderr
    fresh = run_mlopsc(
        "build",
        str(spec),
        "-o",
        str(tmp_path / "fresh"),
        env={**env, "MLOPSC_CACHE_DIR": str(tmp_path / "c2")},
    )
    shutil.rmtree(out)
    text = run_mlopsc("build", str(spec), "-o", str(out), env=env)  # text: the targets' warnings
    assert text.returncode == 0 and text.stderr.count("MLC408") == 1
    assert [ln for ln in text.stderr.splitlines() if "warning" in ln] == [
        ln for ln in fresh.stderr.splitlines() if "warning" in ln
    ]


def test_a_damaged_record_is_ignored(tmp_path: Path) -> None:
    spec, out, cache = setup(tmp_path)
    assert build(tmp_path, cache, "build", str(spec), "-o", str(out))[0] == 0
    (record,) = cache.glob("*.json")
    for damage in (
        "{",
        '{"key": 1}',
        "[" * 100_000,
        json.dumps({"key": record.stem, "files": {"a": [1, 2]}}),
    ):
        record.write_text(damage)
        code, err = build(tmp_path, cache, "check", str(spec), "-o", str(out))
        assert code == 0, err
    os.chmod(cache, 0o500)  # root ignores it, but a read-only cache must not fail a build
    try:
        assert build(tmp_path, cache, "build", str(spec), "-o", str(out))[0] == 0
    finally:
        os.chmod(cache, 0o700)


def test_the_key_covers_every_input() -> None:
    day = dt.date(2027, 1, 1)
    base = buildcache.inputs_digest("mlops.yaml", "a" * 64, day, None)
    assert base == buildcache.inputs_digest("mlops.yaml", "a" * 64, day, None)
    others = {
        buildcache.inputs_digest("other.yaml", "a" * 64, day, None),
        buildcache.inputs_digest("mlops.yaml", "b" * 64, day, None),
        buildcache.inputs_digest("mlops.yaml", "a" * 64, day.replace(day=2), None),
        buildcache.inputs_digest("mlops.yaml", "a" * 64, None, None),
        buildcache.inputs_digest("mlops.yaml", "a" * 64, day, ["docs"]),
    }
    assert base not in others and len(others) == 5
