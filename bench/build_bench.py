"""Time `mlopsc build` as a whole process on synthetic specs of 100 and 1,000 models, next to
`kubectl kustomize` reading back one generated environment folder; report peak memory.

Usage: python bench/build_bench.py [--sizes 100,1000] [--runs 3] [--only kubernetes] [--kustomize-max 300]
kustomize is quadratic in objects (111 s for 1,000 models here), so by default it is only run
up to --kustomize-max models; pass a larger value to measure it at every size.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_spec import spec


def run(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS in MiB, measured with wait4 on the child."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{err.decode()[-3000:]}")
    return elapsed, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100,1000")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", default=None, help="targets for --only (default: all)")
    parser.add_argument("--kustomize-max", type=int, default=300)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            path = Path(tmp) / f"spec-{size}.yaml"
            path.write_text(spec(size))
            out = Path(tmp) / f"out-{size}"
            times, peaks = [], []
            for _ in range(args.runs):
                cmd = [sys.executable, "-m", "compiler", "build", str(path), "-o", str(out)]
                if args.only:
                    cmd += ["--only", args.only]
                # a fresh folder each run: the first build of a project, the slow case
                subprocess.run(["rm", "-rf", str(out)], check=True)
                seconds, peak = run(cmd)
                times.append(seconds)
                peaks.append(peak)
            env_dir = out / "kubernetes" / "production"
            objects = sum(
                p.read_text().count("\nkind: ") + p.read_text().startswith("kind: ")
                for p in env_dir.glob("*.yaml")
                if p.name != "kustomization.yaml"
            )
            kust = None
            if size <= args.kustomize_max:
                kust, _ = run(["kubectl", "kustomize", str(env_dir)])
            rows.append((size, statistics.median(times), min(times), max(peaks), objects, kust))
    print(
        f"{'models':>7} {'build median s':>15} {'build min s':>12} {'peak MiB':>9} {'objects/env':>12} {'kustomize s':>12}"
    )
    for size, med, low, peak, objects, kust in rows:
        k = f"{kust:.2f}" if kust is not None else "skipped"
        print(f"{size:>7} {med:>15.2f} {low:>12.2f} {peak:>9.0f} {objects:>12} {k:>12}")
    if len(rows) >= 2:
        print(
            f"ratio build({rows[-1][0]})/build({rows[0][0]}) = {rows[-1][1] / rows[0][1]:.1f}x "
            f"for {rows[-1][0] / rows[0][0]:.0f}x the models"
        )


if __name__ == "__main__":
    main()
