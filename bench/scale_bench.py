"""Scale figures side by side, in one run: validate, full build, no-change build and check of
synthetic specs (bench/gen_spec.py) at several sizes, with bytes per model and the largest
Kubernetes object written. Prints a Markdown table (the one in docs/performance.md).

    python bench/scale_bench.py [--sizes 100,300,1000] [--runs 3]

Each command runs as a fresh process; times are medians over --runs, as wall seconds and as
CPU seconds (user + system of the process and of the processes it forked, from wait4), which
stay meaningful on a loaded machine; Python's bytecode cache is on and warm. Every size gets its own empty build cache
(MLOPSC_CACHE_DIR), so that the full build is a cold one, as on a fresh CI runner. The
no-change build runs twice: the first right after the full build, then again (files written
in the full build's last 20 ms are read by the first; see compiler/emit/fsroot.py). A benchmark, not a test:
it prints figures and fails nobody's CI.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_spec import spec

ROOT = Path(__file__).resolve().parent.parent


CACHE = {"dir": ""}


SYS = {"full": 0.0}


def run(cmd: list[str], *, ok: tuple[int, ...] = (0,)) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and peak RSS (MiB) of one process (SYS["last"]: its system
    CPU seconds)."""

    # Python's bytecode cache on, as where mlopsc is installed (a sandbox that sets
    # PYTHONDONTWRITEBYTECODE makes every command compile mlopsc's modules again).
    env = {
        **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
        "PYTHONPATH": str(ROOT),
        "SOURCE_DATE_EPOCH": "1798761600",
        "MLOPSC_CACHE_DIR": CACHE["dir"],
    }
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) not in ok:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{err.decode()[-3000:]}")
    SYS["last"] = usage.ru_stime
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def median_of(runs: int, cmd: list[str] | Callable[[int], list[str]], groups: int = 1) -> Any:
    """Medians of `runs` runs (cmd: a command, or the command of run i). With `groups`, run
    i belongs to group i % groups and a tuple of each group's medians is returned."""
    found: list[tuple[list[float], list[float], list[float], list[float]]] = [
        ([], [], [], []) for _ in range(groups)
    ]
    for i in range(runs):
        wall, cpu, peak = run(cmd(i) if callable(cmd) else cmd)
        walls, cpus, peaks, system = found[i % groups]
        walls.append(wall)
        cpus.append(cpu)
        peaks.append(peak)
        system.append(SYS["last"])
    SYS["median"] = statistics.median(found[0][3])
    medians = [(statistics.median(w), statistics.median(c), max(p)) for w, c, p, _ in found]
    return medians[0] if groups == 1 else tuple(medians)


def largest_object(out: Path) -> tuple[int, str]:
    """The largest Kubernetes object written (compact JSON bytes) and its kind/name."""
    best = (0, "")
    for path in (out / "kubernetes").rglob("*.yaml"):
        for obj in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if not isinstance(obj, dict) or "kind" not in obj:
                continue
            size = len(json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode())
            if size > best[0]:
                name = (obj.get("metadata") or {}).get("name")  # a Kustomization has none
                where = path.relative_to(out).as_posix()
                best = (size, f"{obj['kind']} {name}" if name else f"{obj['kind']}, {where}")
    return best


def largest_application(out: Path) -> int:
    """The most bytes one generated Argo CD Application reads (Argo CD's repo server refuses a
    directory source over 10M)."""
    from compiler.conventions import argocd_reads

    most = 0
    for app_file in sorted((out / "argocd").glob("*.yaml")):
        for app in yaml.safe_load_all(app_file.read_text(encoding="utf-8")):
            source = app["spec"]["source"]
            folder = out / Path(source["path"]).relative_to(Path(source["path"]).parts[0])
            directory = {k: v for k, v in source["directory"].items() if k != "recurse"}
            size = sum(
                p.stat().st_size
                for p in folder.iterdir()
                if p.is_file() and argocd_reads(directory, p.name)
            )
            most = max(most, size)
    return most


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100,300,1000")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    py = [sys.executable, "-m", "compiler"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            path = Path(tmp) / f"spec-{size}.yaml"
            path.write_text(spec(size))
            run([*py, "validate", str(path)])  # warm: bytecode cache, page cache

            def cold(i: int, size: int = size, path: Path = path) -> list[str]:
                """A full build into a new folder with an empty cache, as on a fresh CI
                runner; nothing is deleted between runs (on a file system mounted with
                `discard`, deleting the last run's files slows the next one's creates)."""
                CACHE["dir"] = str(Path(tmp) / f"cache-{size}-{i}")
                return [*py, "build", str(path), "-o", str(Path(tmp) / f"out-{size}-{i}")]

            full = median_of(args.runs, cold)
            SYS[f"full-{size}"] = SYS["median"]
            out = Path(tmp) / f"out-{size}-{args.runs - 1}"
            build_cmd = [*py, "build", str(path), "-o", str(out)]
            first = median_of(1, build_cmd)
            # validate, no-change build and check one after the other, `runs` times: the
            # machine's speed drifts, their ratios are taken from neighbouring runs
            trio = [
                [*py, "validate", str(path)],
                build_cmd,
                [*py, "check", str(path), "-o", str(out)],
            ]
            validate, again, check = median_of(
                args.runs * 3, lambda i, trio=trio: trio[i % 3], groups=3
            )
            files = [p for p in out.rglob("*") if p.is_file()]
            total = sum(p.stat().st_size for p in files)
            biggest, name = largest_object(out)
            app_bytes = largest_application(out)
            rows.append(
                (
                    size,
                    validate,
                    full,
                    first,
                    again,
                    check,
                    len(files),
                    total,
                    biggest,
                    name,
                    app_bytes,
                )
            )
    print(
        "| models | validate s (CPU s) | full build s (CPU s) | first no-change build s (CPU s) "
        "| no-change build s (CPU s) | check s (CPU s) | peak MiB | files | KB per model "
        "| largest object | largest Argo CD Application |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|")
    for size, v, f, o, a, c, n, total, biggest, name, app_bytes in rows:
        cell = lambda t: f"{t[0]:.2f} ({t[1]:.2f})"  # noqa: E731
        print(
            f"| {size:,} | {cell(v)} | {cell(f)} | {cell(o)} | {cell(a)} | {cell(c)} "
            f"| {f[2]:.0f} | {n:,} | {total / size / 1000:.1f} | {biggest / 1024:.0f} KiB ({name}) "
            f"| {app_bytes / 1e6:.1f} MB |"
        )
    last, small = rows[-1], rows[0]
    size, v = last[0], last[1]

    def ratio(label: str, t: tuple[float, float, float]) -> None:
        print(
            f"{label} / validate at {size:,} models: {t[0] / v[0]:.2f}x wall, {t[1] / v[1]:.2f}x CPU"
        )

    print()
    ratio("full build", last[2])
    print(f"  of which system CPU (file creation): {SYS[f'full-{size}']:.2f} s")
    ratio("first no-change build", last[3])
    ratio("no-change build", last[4])
    ratio("check", last[5])
    print(
        f"full build {size:,} / {small[0]:,} models: {last[2][0] / small[2][0]:.1f}x wall, "
        f"{last[2][1] / small[2][1]:.1f}x CPU for {size / small[0]:.0f}x the models"
    )


if __name__ == "__main__":
    main()
