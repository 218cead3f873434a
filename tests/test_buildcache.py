"""A build or check after no change to the spec compares OUT with what this machine remembers
of a render of the same inputs (compiler/buildcache.py), and still catches every difference."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

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


def test_files_whose_status_is_unchanged_are_not_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The third comparison of an unchanged OUT reads no file: the second remembered every
    file's status (device, inode, size, times) once the files were over a second old."""
    from compiler.emit import StatusMemo, check_expected, fsroot

    spec, out, cache = setup(tmp_path)
    assert build(tmp_path, cache, "build", str(spec), "-o", str(out))[0] == 0
    monkeypatch.setenv("MLOPSC_CACHE_DIR", str(cache))
    record = buildcache.load(next(cache.glob("*.json")).stem)
    assert record is not None and set(record.statuses) <= {*record.files, "mlopsc.lock.json"}
    reads: list[str] = []
    real_sha = fsroot.Root._sha

    def counting(self: fsroot.Root, parent: int, name: str, rel: str = "") -> str:
        reads.append(rel)
        return real_sha(self, parent, name, rel)

    info = _info(out)
    with monkeypatch.context() as mp:
        mp.setattr(fsroot.Root, "_sha", counting)
        mp.setattr(fsroot, "SETTLE_NS", 0)  # the files count as settled at once
        first = StatusMemo()
        assert check_expected(str(out), record.files, info, memo=first) == []
        assert len(reads) == len(record.files) + 1  # every file and the lock
        reads.clear()
        second = StatusMemo(dict(first.seen), root=first.root)
        assert check_expected(str(out), record.files, info, memo=second) == []
        assert reads == []
        # another folder with the same files: its statuses are not this folder's
        import shutil

        shutil.copytree(out, tmp_path / "copy")
        third = StatusMemo(dict(first.seen), root=first.root)
        assert check_expected(str(tmp_path / "copy"), record.files, info, memo=third) == []
        assert len(reads) == len(record.files) + 1


def _info(out: Path) -> Any:
    from compiler.emit import LockInfo

    lock = json.loads((out / "mlopsc.lock.json").read_text())
    return LockInfo(lock["version"], lock["spec"]["path"], lock["spec"]["sha256"])


def test_an_edit_that_keeps_size_and_modification_time_is_still_caught(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same size, modification time set back, even within a second of the last comparison:
    the change time moved, so the file is read and the edit reported."""
    spec, out, cache = setup(tmp_path)
    assert build(tmp_path, cache, "build", str(spec), "-o", str(out))[0] == 0
    old = dt.datetime.now().timestamp() - 60
    for path in out.rglob("*"):  # settled: as if written a minute ago (ctime is not)
        os.utime(path, (old, old))
    import time

    time.sleep(1.1)
    code, err = build(tmp_path, cache, "check", str(spec), "-o", str(out))
    assert code == 0, err
    monkeypatch.setenv("MLOPSC_CACHE_DIR", str(cache))
    (record,) = [buildcache.load(p.stem) for p in cache.glob("*.json")]
    assert record is not None and len(record.statuses) == len(record.files) + 1
    target = out / "kubernetes" / "production" / "namespace.yaml"
    before = target.stat()
    text = target.read_bytes()
    target.write_bytes(text.replace(b"name:", b"nome:", 1))
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert target.stat().st_size == before.st_size
    assert target.stat().st_mtime_ns == before.st_mtime_ns
    code, err = build(tmp_path, cache, "check", str(spec), "-o", str(out))
    assert code == 1 and "namespace.yaml was edited by hand" in err
    code, err = build(tmp_path, cache, "build", str(spec), "-o", str(out))
    assert code == 1 and "MLC401" in err


def test_a_record_with_a_wrong_lock_hash_or_folders_changes_no_verdict(tmp_path: Path) -> None:
    """What the record says besides the files' hashes only saves work: a wrong value there
    makes check do the work, never report a difference that is not there (or miss one)."""
    spec, out, cache = setup(tmp_path)
    assert build(tmp_path, cache, "build", str(spec), "-o", str(out))[0] == 0
    (path,) = cache.glob("*.json")
    data = json.loads(path.read_text())
    assert len(data["lock"]) == 64 and data["info"][2] and isinstance(data["shared"], list)
    for field, value in (("lock", "0" * 64), ("lock", 7), ("info", ["x"]), ("shared", {})):
        path.write_text(json.dumps({**data, field: value}))
        code, err = build(tmp_path, cache, "check", str(spec), "-o", str(out))
        assert code == 0, (field, err)
    path.write_text(json.dumps({**data, "lock": "0" * 64}))
    (out / "kubernetes" / "production" / "extra.yaml").write_text("kind: Secret\n")
    code, err = build(tmp_path, cache, "check", str(spec), "-o", str(out))
    assert code == 1 and "extra.yaml was not written by mlopsc" in err


def test_a_build_remembers_what_it_wrote_and_nothing_it_did_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The statuses a build leaves are those of the files as written, with their hashes; a
    file changed afterwards no longer matches its status."""
    from compiler.emit import StatusMemo, check_expected, fsroot, write_outputs

    spec, out, cache = setup(tmp_path)
    assert build(tmp_path, cache, "build", str(spec), "-o", str(out))[0] == 0
    (extra := out / "docs" / "notes.txt").write_text("mine\n")
    monkeypatch.setenv("MLOPSC_CACHE_DIR", str(cache))
    record = buildcache.load(next(cache.glob("*.json")).stem)
    assert record is not None
    info = _info(out)
    # the same files again, one of them changed: a build rewrites it
    target = "kubernetes/production/namespace.yaml"
    (out / target).write_text((out / target).read_text() + "# old\n")
    lock = json.loads((out / "mlopsc.lock.json").read_text())
    import hashlib

    lock["files"][target]["sha256"] = hashlib.sha256((out / target).read_bytes()).hexdigest()
    (out / "mlopsc.lock.json").write_text(json.dumps(lock, indent=2) + "\n")
    from compiler.artifact import Artifact

    artifacts = []
    for rel, (sha, name) in record.files.items():
        content = (out / rel).read_bytes() if rel != target else b""
        if rel == target:
            content = (out / rel).read_bytes().replace(b"# old\n", b"")
        artifacts.append(Artifact(rel, content, name))
        assert rel == target or Artifact(rel, content).sha256 == sha
    monkeypatch.setattr(fsroot, "SETTLE_NS", -(10**12))  # settled at once, whatever the clock
    memo = StatusMemo()
    written = write_outputs(str(out), artifacts, info, memo=memo)
    assert written.changed == 1
    assert set(memo.seen) == {*record.files, "mlopsc.lock.json"}
    for rel, (status, sha) in memo.seen.items():
        assert status == fsroot.status_of(os.stat(out / rel))
        assert sha == hashlib.sha256((out / rel).read_bytes()).hexdigest()
    assert "docs/notes.txt" not in memo.seen and extra.exists()
    extra.unlink()
    # trusted next time; an append after the build is seen all the same
    again = StatusMemo(dict(memo.seen), root=memo.root)
    assert check_expected(str(out), record.files, info, memo=again) == []
    with open(out / target, "a") as handle:
        handle.write("# appended\n")
    findings = check_expected(
        str(out), record.files, info, memo=StatusMemo(dict(memo.seen), root=memo.root)
    )
    assert [(f.kind, f.path) for f in findings] == [("edited", target)]


def test_a_status_younger_than_the_clock_tick_is_not_remembered() -> None:
    import time
    import types

    from compiler.emit import StatusMemo, fsroot

    now = time.time_ns()

    def stat(ctime_ns: int) -> object:
        return types.SimpleNamespace(
            st_dev=1, st_ino=2, st_size=3, st_mtime_ns=ctime_ns, st_ctime_ns=ctime_ns
        )

    memo = StatusMemo()
    memo.hashed("fresh", stat(now), "a" * 64)  # type: ignore[arg-type]
    memo.hashed("old", stat(now - 10 * fsroot.SETTLE_NS + 1), "b" * 64)  # type: ignore[arg-type]
    # whole seconds only (a coarse file system): needs the longer wait
    second = (now // 1_000_000_000 - 1) * 1_000_000_000
    memo.hashed("coarse", stat(second), "c" * 64)  # type: ignore[arg-type]
    memo.hashed("coarse-old", stat(second - 2 * fsroot.COARSE_SETTLE_NS), "d" * 64)  # type: ignore[arg-type]
    assert sorted(memo.seen) == ["coarse-old", "old"]
