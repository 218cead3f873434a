"""What a build would write, from a checked spec: rendered now, or remembered by this machine.

A full build's file hashes, warnings and lock details are recorded under the key of its
inputs (compiler/buildcache.py): a later build or check of the same inputs compares OUT with
the record instead of rendering again. Nothing here prints; the CLI says what happened.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from compiler.diagnostics import Severity, Sink


@dataclasses.dataclass(frozen=True)
class Outputs:
    """What build would write: rendered artifacts, or (when this machine remembers a render of
    the same inputs) only their paths and hashes."""

    plan: Any
    artifacts: list[Any] | None
    expected: dict[str, tuple[str, str]]  # path -> (sha256, target)
    info: Any
    selected: list[str] | None
    sink: Sink
    checked: Any = None  # the front end's result and diagnostics, reused when a remembered
    front_items: tuple[Any, ...] = ()  # build turns out stale
    key: str = ""  # the inputs' key in this machine's records ("" when not a full build)
    record: Any = None  # what this machine remembers of them (buildcache.Record)
    shared: frozenset[str] = frozenset()  # generated folders that also hold other files

    def compare(self, out: str) -> list[Any]:
        """Every difference between OUT and these outputs (EmitError when OUT cannot be
        read). Files whose status this machine remembers are not read again; when OUT
        matches, the statuses of the files read are remembered for the next comparison."""
        from compiler import buildcache
        from compiler.emit import StatusMemo, check_expected

        record = self.record
        memo = StatusMemo(dict(record.statuses), root=record.root) if record else StatusMemo()
        findings = check_expected(
            out,
            self.expected,
            self.info,
            shared=self.shared,
            memo=memo,
            lock_sha256=record.lock_sha256 if record else "",
        )
        learned = record is not None and (memo.seen, memo.root) != (record.statuses, record.root)
        if learned and not findings:
            changed = dataclasses.replace(record, statuses=memo.seen, root=memo.root)
            buildcache.store(self.key, changed)
        return findings


def shared_folders(plan: Any) -> frozenset[str]:
    """Generated folders where other files are expected, so not reported as unknown: the
    workflows folder the spec points into (`.github/workflows` holds the repository's own
    workflows too) and, with the outputs at the repository's root, its docs folder."""
    shared = set()
    if plan.github_workflows:
        shared.add(plan.github_workflows.strip("/"))
    if plan.output_directory.strip("/") == ".":
        shared.add("docs")
    return frozenset(shared)


def compile_or_remember(
    spec: str,
    checked: Any,
    sink: Sink,
    selected: list[str] | None,
    *,
    remembered: bool,
    store: bool,
    renderer: Callable[[Any, list[str]], list[Any]] | None = None,
) -> Outputs | None:
    """The outputs of a checked spec (None when the targets cannot build it; `sink` says
    why). `remembered`: a full build of the same inputs recorded on this machine stands in for
    rendering (its warnings are added to `sink` again). `store`: record a full render now."""
    from compiler import buildcache
    from compiler.build import compile_outputs
    from compiler.emit import LockInfo, expected_lock_sha256
    from compiler.pipeline import as_of
    from compiler.registry.lock import dump_lock

    before = len(sink.items)
    front_items = tuple(sink.items)
    date = as_of(spec)
    full = selected is None and renderer is None
    # mlops.lock.yaml is an input too: a moved registry version changes the outputs.
    inputs = checked.document.sha256 + dump_lock(checked.lock, spec_name="")
    key = buildcache.inputs_digest(spec, inputs, date, selected)
    record = buildcache.load(key) if full and remembered else None
    if record is not None:
        sink.items.extend(record.warnings)  # what the targets said when they rendered
        # no plan: what build and check need of it was remembered with the files
        return Outputs(
            None,
            None,
            record.files,
            LockInfo(*record.info),
            selected,
            sink,
            checked,
            front_items,
            key,
            record,
            frozenset(record.shared),
        )
    compiled = compile_outputs(checked, sink, only=selected, renderer=renderer, as_of=date)
    if compiled is None:
        return None
    hashes = {a.path: (a.sha256, a.target) for a in compiled.artifacts}
    shared = shared_folders(compiled.plan)
    if not full:
        return Outputs(
            compiled.plan, compiled.artifacts, hashes, compiled.info, selected, sink, shared=shared
        )
    warned = [d for d in sink.items[before:] if d.severity is Severity.WARNING]
    i = compiled.info
    record = buildcache.Record(
        hashes,
        warned,
        lock_sha256=expected_lock_sha256(hashes, i),
        info=(i.version, i.spec_path, i.spec_sha256),
        shared=tuple(sorted(shared)),
    )
    if store:
        buildcache.store(key, record)
    return Outputs(
        compiled.plan,
        compiled.artifacts,
        hashes,
        compiled.info,
        selected,
        sink,
        key=key,
        record=record,
        shared=shared,
    )
