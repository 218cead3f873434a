"""How long `mlopsc validate` takes as a whole process, next to check-jsonschema on the same file.

    python bench/validate_bench.py [--runs 15] [--spec FILE]

Times, N runs each, in fresh processes (what a pre-commit hook or CI step pays):
  - `python -m compiler validate SPEC`
  - `mlopsc validate SPEC`, when an installed `mlopsc` is on PATH
  - `check-jsonschema --schemafile schemas/mlops-v1.schema.json SPEC` (schema only)
then prints the 10 imports with the largest cumulative time (`python -X importtime`).

SPEC defaults to the largest example under examples/, counting the lines of the files it
includes. A benchmark, not a test: it prints figures and fails nobody's CI.
"""

from __future__ import annotations

import argparse
import glob
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "schemas" / "mlops-v1.schema.json"


def included_files(spec: Path) -> list[Path]:
    """The spec and the files its top-level `include:` names (globs relative to it)."""
    files = [spec]
    try:
        import yaml

        data = yaml.safe_load(spec.read_text(encoding="utf-8"))
    except Exception:  # a broken example is still worth counting: it has no includes then
        return files
    patterns = data.get("include", []) if isinstance(data, dict) else []
    for pattern in patterns if isinstance(patterns, list) else []:
        for match in sorted(glob.glob(str(spec.parent / str(pattern)), recursive=True)):
            path = Path(match)
            if path.is_file() and path not in files:
                files.append(path)
    return files


def line_count(files: Sequence[Path]) -> int:
    return sum(len(f.read_text(encoding="utf-8", errors="replace").splitlines()) for f in files)


def largest_example() -> tuple[Path, int, int]:
    """(spec, total lines with includes, number of files) of the largest example."""
    best: tuple[Path, int, int] | None = None
    for spec in sorted((ROOT / "examples").glob("*/mlops.y*ml")):
        files = included_files(spec)
        lines = line_count(files)
        if best is None or lines > best[1]:
            best = (spec, lines, len(files))
    if best is None:
        sys.exit("bench: no examples/*/mlops.yaml found")
    return best


def schema_file(tmp: Path) -> Path:
    """schemas/mlops-v1.schema.json, or the schema generated now when the file is missing."""
    if SCHEMA.is_file():
        return SCHEMA
    out = tmp / "mlops-v1.schema.json"
    done = subprocess.run(
        [sys.executable, "-m", "compiler", "schema"], cwd=ROOT, capture_output=True, check=False
    )
    if done.returncode != 0:
        sys.exit(f"bench: `python -m compiler schema` failed:\n{done.stderr.decode()}")
    out.write_bytes(done.stdout)
    print(f"(schemas/ has no schema file; generated one to {out})")
    return out


def run_once(argv: Sequence[str]) -> tuple[float, float, int]:
    """Wall-clock and CPU seconds (user + system, of the child) of one run, and its exit code."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    code = subprocess.run(argv, cwd=ROOT, capture_output=True, check=False).returncode
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, code


@dataclass
class Timing:
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    code: int = 0


def time_commands(commands: Sequence[tuple[str, list[str]]], runs: int) -> dict[str, Timing]:
    """Each command `runs` times after one warm-up, interleaved so that load drifts hit all alike."""
    results = {label: Timing(code=run_once(argv)[2]) for label, argv in commands}
    for _ in range(runs):
        for label, argv in commands:
            wall, cpu, code = run_once(argv)
            results[label].walls.append(wall)
            results[label].cpus.append(cpu)
            results[label].code = code
    return results


def import_profile(spec: Path, top: int) -> list[tuple[int, int, str]]:
    """(cumulative µs, self µs, module) of the `top` slowest imports of one validate run."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "compiler", "validate", str(spec)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    rows: list[tuple[int, int, str]] = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        self_us, cumulative_us, name = line.removeprefix("import time:").split("|", 2)
        rows.append((int(cumulative_us), int(self_us), name.rstrip()))
    rows.sort(key=lambda r: r[0], reverse=True)
    return rows[:top]


def top_packages(spec: Path, top: int) -> list[tuple[str, int]]:
    """Self import time summed per top-level package: where the import time really goes."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "compiler", "validate", str(spec)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    totals: dict[str, int] = {}
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        self_us, _, name = line.removeprefix("import time:").split("|", 2)
        package = name.strip().split(".")[0]
        totals[package] = totals.get(package, 0) + int(self_us)
    return sorted(totals.items(), key=lambda kv: kv[1], reverse=True)[:top]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="timed runs per command (default 15)")
    parser.add_argument("--spec", type=Path, help="spec to validate (default: largest example)")
    parser.add_argument("--top", type=int, default=10, help="imports to list (default 10)")
    args = parser.parse_args(argv)

    if args.spec:
        spec = args.spec.resolve()
        files = included_files(spec)
        lines, nfiles = line_count(files), len(files)
    else:
        spec, lines, nfiles = largest_example()
    shown = spec.relative_to(ROOT) if spec.is_relative_to(ROOT) else spec
    print(f"spec: {shown} ({lines} lines in {nfiles} file{'s' * (nfiles != 1)}); runs: {args.runs}")
    print(f"python: {sys.version.split()[0]} ({sys.executable})\n")

    with tempfile.TemporaryDirectory(prefix="mlopsc-bench-") as tmp:
        schema = schema_file(Path(tmp))
        commands: list[tuple[str, list[str]]] = [
            (
                "python -m compiler validate",
                [sys.executable, "-m", "compiler", "validate", str(spec)],
            ),
        ]
        mlopsc = shutil.which("mlopsc")
        if mlopsc:
            commands.append(("mlopsc validate", [mlopsc, "validate", str(spec)]))
        else:
            print("(no `mlopsc` on PATH: `pip install -e .` to time the entry point too)")
        cjs = shutil.which("check-jsonschema")
        if cjs:
            commands.append(
                ("check-jsonschema --schemafile", [cjs, "--schemafile", str(schema), str(spec)])
            )
        else:
            print("(no `check-jsonschema` on PATH: `pip install check-jsonschema` to compare)")
        commands.append(("python -c pass (interpreter floor)", [sys.executable, "-c", "pass"]))

        results = time_commands(commands, args.runs)

    width = max(len(label) for label in results)
    print(f"\n{'command':<{width}}  {'median':>7}  {'min':>7}  {'max':>7}  {'cpu med':>7}  exit")
    print(f"{'-' * width}  {'-' * 7}  {'-' * 7}  {'-' * 7}  {'-' * 7}  ----")
    for label, timing in results.items():
        walls, cpus, code = timing.walls, timing.cpus, timing.code
        print(
            f"{label:<{width}}  {statistics.median(walls) * 1000:>5.0f}ms  "
            f"{min(walls) * 1000:>5.0f}ms  {max(walls) * 1000:>5.0f}ms  "
            f"{statistics.median(cpus) * 1000:>5.0f}ms  {code:>4}"
        )
    load = os.getloadavg()[0]
    if load > (os.cpu_count() or 1) * 0.5:
        print(
            f"(load average {load:.1f} on {os.cpu_count()} CPUs: wall times are noisy, trust cpu)"
        )
    ours, theirs = "python -m compiler validate", "check-jsonschema --schemafile"
    if ours in results and theirs in results:
        for what in ("wall", "cpu"):
            mine, other = (getattr(results[k], f"{what}s") for k in (ours, theirs))
            ratio = statistics.median(mine) / statistics.median(other)
            verdict = "meets" if ratio <= 1.0 else "misses"
            print(
                f"validate / check-jsonschema, median {what}: {ratio:.2f} ({verdict} the goal <= 1.00)"
            )

    print(f"\ntop {args.top} imports by cumulative time (python -X importtime, one run):")
    print(f"{'cumulative':>10}  {'self':>8}  module")
    for cumulative, self_us, name in import_profile(spec, args.top):
        print(f"{cumulative / 1000:>8.1f}ms  {self_us / 1000:>6.1f}ms  {name}")
    print(f"\ntop {args.top} top-level packages by summed self import time:")
    for package, self_us in top_packages(spec, args.top):
        print(f"{self_us / 1000:>8.1f}ms  {package}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
