"""Rendering the targets of a large spec on several CPU cores.

Targets are independent functions of the plan, so a build splits them into buckets of about
equal cost and renders all but the first bucket in forked processes (Linux only; they inherit
the plan, so nothing but the resulting files crosses a pipe). The outputs are the same bytes
as a serial render: each target renders the same way wherever it runs, and the files are
merged and sorted by path. A target's TargetError is reported as the serial render would
report it (the first failing target in registry order wins); a process that fails in any
other way has its bucket rendered again in the main process, where a bug then raises as it
would have.

`MLOPSC_JOBS` sets the number of processes (1: serial); unset, a spec of at least
`PARALLEL_FROM` models uses every core this process may run on, a smaller one stays serial
(forking costs more than it saves there).
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import sys

from compiler.artifact import Artifact
from compiler.plan import Plan
from compiler.targets import load_target
from compiler.targets.base import TargetError

PARALLEL_FROM = 50  # models
# Relative render cost of the targets that grow with the models (CPU seconds at 1,000 models
# of bench/gen_spec.py: monitoring 1.3, docs 0.6, kubernetes 0.55, every other target under
# 0.04), in hundredths of a second.
COST = {"monitoring": 130, "docs": 60, "kubernetes": 55}

Outcome = tuple[str, list[Artifact] | tuple[str, str, tuple[str | int, ...], str]]


def jobs_for(plan: Plan) -> int:
    """How many processes render this plan."""
    wanted = os.environ.get("MLOPSC_JOBS", "").strip()
    if wanted:
        try:
            return max(1, int(wanted))
        except ValueError:
            return 1
    if len(plan.models) < PARALLEL_FROM:
        return 1
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def buckets(names: list[str], jobs: int) -> list[list[str]]:
    """Targets split into at most `jobs` buckets of about equal cost (longest first), each
    in registry order."""
    count = max(1, min(jobs, len(names)))
    loads = [0] * count
    split: list[list[str]] = [[] for _ in range(count)]
    for name in sorted(names, key=lambda n: -COST.get(n, 2)):
        i = loads.index(min(loads))
        loads[i] += COST.get(name, 2)
        split[i].append(name)
    order = {name: i for i, name in enumerate(names)}
    return [sorted(b, key=order.__getitem__) for b in split if b]


def _render_bucket(plan: Plan, names: list[str]) -> list[Outcome]:
    """Each target's files, or its TargetError as plain data; stops at the first error, as a
    serial render would."""
    outcomes: list[Outcome] = []
    for name in names:
        try:
            files = [dataclasses.replace(a, target=name) for a in load_target(name).render(plan)]
        except TargetError as exc:
            outcomes.append((name, (exc.code, str(exc), exc.path, exc.hint)))
            break
        outcomes.append((name, files))
    return outcomes


def _fork(plan: Plan, names: list[str]) -> tuple[int, int]:
    """A child rendering `names`; (pid, read end of the pipe its pickled outcomes come on)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: render, send, exit without running the parent's cleanup
        code = 1
        try:
            os.close(read)
            outcomes = _render_bucket(plan, names)
            for _, files in outcomes:  # hashed here, on this core (the hash travels along)
                for artifact in files if isinstance(files, list) else ():
                    _ = artifact.sha256
            payload = pickle.dumps(outcomes, pickle.HIGHEST_PROTOCOL)
            with os.fdopen(write, "wb") as pipe:
                pipe.write(payload)
            code = 0
        except BaseException:  # the parent renders this bucket again
            pass
        os._exit(code)
    os.close(write)
    return pid, read


def _collect(pid: int, read: int) -> list[Outcome] | None:
    """The child's outcomes; None when it did not deliver them."""
    with os.fdopen(read, "rb") as pipe:
        payload = pipe.read()
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        return None
    try:
        outcomes = pickle.loads(payload)  # our own child's bytes, over a pipe
    except Exception:
        return None
    return outcomes if isinstance(outcomes, list) else None


def render_targets(plan: Plan, names: list[str], *, jobs: int | None = None) -> list[Artifact]:
    """Artifacts of the named targets, sorted by path; a path written twice is a bug."""
    count = jobs if jobs is not None else jobs_for(plan)
    split = buckets(names, count) if count > 1 and sys.platform.startswith("linux") else [names]
    children = [_fork(plan, bucket) for bucket in split[1:]]
    outcomes: dict[str, list[Artifact] | tuple[str, str, tuple[str | int, ...], str]] = {}
    try:
        outcomes.update(_render_bucket(plan, split[0]))
    finally:
        delivered = [
            (bucket, _collect(pid, read))
            for bucket, (pid, read) in zip(split[1:], children, strict=True)
        ]
    for bucket, got in delivered:
        outcomes.update(got if got is not None else _render_bucket(plan, bucket))
    artifacts: dict[str, Artifact] = {}
    for name in names:
        result = outcomes.get(name)
        if result is None:
            continue  # its bucket stopped at an earlier target's error
        if isinstance(result, tuple):
            code, message, path, hint = result
            raise TargetError(code, message, path, hint)
        for artifact in result:
            if artifact.path in artifacts:
                raise RuntimeError(f"two targets write {artifact.path}")
            artifacts[artifact.path] = artifact
    return [artifacts[p] for p in sorted(artifacts)]
