"""Comparing two snapshots of a spec object by object, and each object field by field.

A snapshot maps every object of the spec (a model, a team, a waiver, ...) to its value as
JSON data. It comes from the Plan when a side compiles (defaults applied, includes merged),
else from the document as written, so a broken side can still be compared.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeAlias

from compiler.plan import Plan

Json: TypeAlias = "bool | int | float | str | list[Json] | dict[str, Json] | None"

_DIGEST = re.compile(r"sha256:([0-9a-f]{12})[0-9a-f]{52}")


class Missing(StrEnum):
    """A key that one side does not have (distinct from an explicit null)."""

    UNSET = "(unset)"


Value: TypeAlias = "Json | Missing"
UNSET = Missing.UNSET


class Action(StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"


@dataclass(frozen=True)
class Section:
    """A kind of object in the spec: its key there, the word shown, the key naming an item."""

    key: str
    kind: str
    name_key: str = "name"


# In spec order; the ones after "slos" live under governance.
SECTIONS: tuple[Section, ...] = (
    Section("teams", "team"),
    Section("environments", "environment"),
    Section("sources", "source"),
    Section("entities", "entity"),
    Section("features", "feature view"),
    Section("models", "model"),
    Section("slos", "slo"),
    Section("policies", "policy", "id"),
    Section("waivers", "waiver"),
)
# Objects whose change deploys something: without rendered files, every environment counts.
DEPLOYED = frozenset({"model", "feature view", "source", "entity", "slo"})


@dataclass(frozen=True)
class Snapshot:
    """Every object of one side: single values by key, and items by section and name."""

    single: dict[str, Value]
    items: dict[str, dict[str, Json]]


@dataclass(frozen=True)
class FieldChange:
    path: str
    old: Value
    new: Value

    @property
    def text(self) -> str:
        return f"{self.path}: {show(self.old)} → {show(self.new)}"


@dataclass(frozen=True)
class ObjectChange:
    kind: str
    section: str
    name: str
    action: Action
    fields: tuple[FieldChange, ...] = field(default=())


def show(value: Value) -> str:
    """A short, readable rendering of a spec value (digests shortened)."""
    if isinstance(value, Missing):
        return value.value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _DIGEST.sub(r"sha256:\1…", value)
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        return "[" + ", ".join(show(v) for v in value) + "]"
    if isinstance(value, dict) and not value:
        return "{}"
    return _DIGEST.sub(r"sha256:\1…", json.dumps(value, sort_keys=True, default=str))


def waiver_key(rule: object, target: object) -> str:
    """How a waiver is named in a diff: it has no name of its own."""
    return f"{rule} on {target}"


def _dump(obj: object) -> Json:
    from pydantic import BaseModel

    assert isinstance(obj, BaseModel)
    data: Json = obj.model_dump(mode="json", by_alias=True)
    return data


def plan_snapshot(plan: Plan) -> Snapshot:
    """The objects of a compiled side, defaults applied."""
    outputs: Json = {
        "directory": plan.output_directory,
        "revision": plan.revision,
        "mlopsc_requirement": plan.requirement,
        "github_workflows": plan.github_workflows,
    }
    items: dict[str, dict[str, Json]] = {
        "teams": {t.name: _dump(t) for t in plan.teams.values()},
        "environments": {e.name: _dump(e.env) for e in plan.environments},
        "sources": {s.name: _dump(s) for s in plan.sources},
        "entities": {e.name: _dump(e) for e in plan.entities},
        "features": {v.name: _dump(v) for v in plan.views},
        "models": {m.name: _dump(m) for m in plan.models},
        "slos": {s.slo.name: _dump(s.slo) for s in plan.slos},
        "policies": {p.id: _dump(p) for p in plan.governance.policies.values()},
        "waivers": {waiver_key(w.rule, w.target): _dump(w) for w in plan.waivers},
    }
    return Snapshot(
        single={
            "metadata": _dump(plan.metadata),
            "outputs": outputs,
            "feature_store": _dump(plan.feature_store),
            "frameworks": [str(f) for f in plan.governance.frameworks],
        },
        items=items,
    )


def _named(raw: object, key: str) -> dict[str, Json]:
    found: dict[str, Json] = {}
    if isinstance(raw, list):
        for item in raw:
            if isinstance(item, dict) and isinstance(item.get(key), str):
                found.setdefault(item[key], item)
    return found


def data_snapshot(data: Mapping[str, Json] | None) -> Snapshot:
    """The objects of a side that does not compile, as written (no defaults)."""
    data = data or {}
    gov = data.get("governance")
    governance: Mapping[str, Json] = gov if isinstance(gov, dict) else {}
    items = {s.key: _named(data.get(s.key), s.name_key) for s in SECTIONS[:7]}
    items["policies"] = _named(governance.get("policies"), "id")
    waivers = governance.get("waivers")
    items["waivers"] = {
        waiver_key(w.get("rule"), w.get("target")): w
        for w in (waivers if isinstance(waivers, list) else [])
        if isinstance(w, dict)
    }
    single: dict[str, Value] = {
        "metadata": data.get("metadata", UNSET),
        "outputs": data.get("outputs", UNSET),
        "feature_store": data.get("feature_store", UNSET),
        "frameworks": governance.get("frameworks", []),
    }
    return Snapshot(single, items)


def _keyed(items: list[Json]) -> dict[str, Json] | None:
    """A list of mappings that all have a unique `name` or `id`, as a dict; else None."""
    if not items or not all(isinstance(i, dict) for i in items):
        return None
    for key in ("name", "id"):
        names = [i.get(key) for i in items if isinstance(i, dict)]
        if all(isinstance(n, str) for n in names) and len(set(names)) == len(names):
            return {str(n): i for n, i in zip(names, items, strict=True)}
    return None


def compare_values(old: Value, new: Value, path: str, out: list[FieldChange]) -> None:
    """Every leaf that differs between two values, with a dotted path."""
    if old == new:
        return
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new), key=str):
            sub = f"{path}.{key}" if path else str(key)
            compare_values(old.get(key, UNSET), new.get(key, UNSET), sub, out)
        return
    if isinstance(old, list) and isinstance(new, list):
        a, b = _keyed(old), _keyed(new)
        if a is not None and b is not None:
            for key in sorted(set(a) | set(b)):
                compare_values(a.get(key, UNSET), b.get(key, UNSET), f"{path}[{key}]", out)
            return
    out.append(FieldChange(path, old, new))


def _table(
    section: Section, a: Mapping[str, Json], b: Mapping[str, Json]
) -> Iterable[ObjectChange]:
    for name in sorted(set(a) | set(b)):
        if name not in a:
            yield ObjectChange(section.kind, section.key, name, Action.ADDED)
        elif name not in b:
            yield ObjectChange(section.kind, section.key, name, Action.REMOVED)
        else:
            fields: list[FieldChange] = []
            compare_values(a[name], b[name], "", fields)
            if fields:
                yield ObjectChange(section.kind, section.key, name, Action.CHANGED, tuple(fields))


def compare_objects(old: Snapshot | None, new: Snapshot | None) -> list[ObjectChange]:
    """Objects added, removed or changed, section by section in spec order (old None: the
    spec is new, so nothing of its single values is reported as a change)."""
    changes: list[ObjectChange] = []
    empty = Snapshot({}, {})
    a, b = old or empty, new or empty

    def single(key: str, kind: str) -> None:
        fields: list[FieldChange] = []
        compare_values(a.single.get(key, UNSET), b.single.get(key, UNSET), key, fields)
        if fields and old is not None and new is not None:
            changes.append(ObjectChange(kind, kind, key, Action.CHANGED, tuple(fields)))

    def tables(sections: tuple[Section, ...]) -> None:
        for s in sections:
            changes.extend(_table(s, a.items.get(s.key, {}), b.items.get(s.key, {})))

    for key in ("metadata", "outputs", "feature_store"):
        single(key, key)
    tables(SECTIONS[:7])
    single("frameworks", "governance")
    tables(SECTIONS[7:])
    return changes
