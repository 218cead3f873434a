"""The semantic diff: what a spec change means, between a git ref and the working tree.

Both sides go through the front end (continuing past governance failures, which are part of
what a change does), then are compared object by object: added, removed, and each changed
field old → new; rule outcomes newly failing or passing; waivers; the approvals the change
needs; and which generated files change (both plans rendered in memory, compared by hash).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import Any

from compiler.diagnostics import Severity, Sink
from compiler.gitspec import git_root, materialize, resolve_ref

SECTIONS: tuple[tuple[str, str, str], ...] = (
    # (spec key, kind shown, key field)
    ("teams", "team", "name"),
    ("environments", "environment", "name"),
    ("sources", "source", "name"),
    ("entities", "entity", "name"),
    ("features", "feature view", "name"),
    ("models", "model", "name"),
    ("slos", "slo", "name"),
)
FAILING = ("fail", "warning")
_DIGEST = re.compile(r"sha256:([0-9a-f]{12})[0-9a-f]{52}")
_MISSING = object()


# --------------------------------------------------------------------------- reading sides


@dataclass
class Side:
    """One side of the comparison: whatever could be made of the spec there."""

    label: str
    status: str = "absent"  # absent | unreadable | invalid | valid
    problems: list[str] = field(default_factory=list)
    data: dict[str, Any] | None = None  # raw merged data (includes resolved)
    normalized: dict[str, Any] | None = None  # model dump with defaults, when the schema passed
    outcomes: dict[tuple[str, str], tuple[str, str]] | None = None  # (rule, target) → status, msg
    owners: dict[str, dict[str, str]] = field(default_factory=dict)  # section → name → team
    github: dict[str, str] = field(default_factory=dict)  # team → github_team
    reviewers: dict[str, list[str]] = field(default_factory=dict)  # gated env → reviewers
    files: dict[str, str] | None = None  # generated path → sha256
    render_problem: str | None = None


def _problem_lines(sink: Sink, tmp: str | None, prefix: str) -> list[str]:
    lines: list[str] = []
    for d in sink.sorted():
        if d.severity is not Severity.ERROR:
            continue
        name = d.span.file
        if tmp is not None:
            absolute = os.path.abspath(name)
            if absolute.startswith(tmp + os.sep):
                name = prefix + os.path.relpath(absolute, tmp).replace(os.sep, "/")
        lines.append(f"{name}:{d.span.line}: {d.code}: {d.message}")
    return lines


def analyse(
    path: str, side: Side, *, today: dt.date, tmp: str | None = None, prefix: str = ""
) -> None:
    """Run the front end on `path` as far as it goes and fill `side`."""
    from compiler.governance import check_waiver_names, evaluate_governance
    from compiler.load import load_spec
    from compiler.meaning import check_meaning
    from compiler.pipeline import Checked
    from compiler.spec.validate import validate_project

    sink = Sink()
    document = load_spec(path, sink)
    if document is None or sink.has_errors:
        side.status = "unreadable"
        side.problems = _problem_lines(sink, tmp, prefix)
        side.data = document.data if document is not None else None
        return
    side.data = document.data
    project = validate_project(document, sink)
    if project is None:
        side.status = "invalid"
        side.problems = _problem_lines(sink, tmp, prefix)
        return
    side.normalized = project.model_dump(mode="json", by_alias=True)
    index = check_meaning(project, document.source_map, sink)
    check_waiver_names(index, document.source_map, sink)
    if sink.has_errors:
        side.status = "invalid"
        side.problems = _problem_lines(sink, tmp, prefix)
        return
    side.status = "valid"
    side.github = {t.name: t.github_team for t in project.teams if t.github_team}
    side.reviewers = {
        e.name: list(e.approval.reviewers) for e in project.environments if e.approval.required
    }
    meta_owner = project.metadata.owner
    side.owners = {
        "models": {m.name: m.owner or meta_owner for m in project.models},
        "features": {v.name: v.owner or meta_owner for v in project.features},
        "sources": {s.name: s.owner or meta_owner for s in project.sources},
        "slos": {s.name: side_owner(project.models, s.model, meta_owner) for s in project.slos},
        "": {"": meta_owner},
    }
    try:
        governance = evaluate_governance(index, document.source_map, Sink(), today=today)
    except Exception as exc:  # a policy that cannot run must not hide the rest of the diff
        side.problems.append(f"governance could not be evaluated: {exc}")
        return
    side.outcomes = {
        (o.rule, o.result.target): (o.status, o.result.message) for o in governance.outcomes
    }
    try:
        from compiler.plan import build_plan
        from compiler.targets import REGISTRY, render_all

        plan = build_plan(Checked(document, project, index, governance))
        side.files = {a.path: a.sha256 for a in render_all(plan, list(REGISTRY))}
    except Exception as exc:
        side.render_problem = f"{type(exc).__name__}: {exc}"


def side_owner(models: list[Any], model: str, default: str) -> str:
    for m in models:
        if m.name == model:
            return str(m.owner or default)
    return default


def read_base(spec: str, ref: str, *, today: dt.date) -> Side:
    """The spec (with its includes) as it was at `ref`, read with `git show`."""
    root = git_root(spec)
    commit = resolve_ref(root, ref)
    spec_rel = os.path.relpath(os.path.realpath(spec), os.path.realpath(root)).replace(os.sep, "/")
    side = Side(label=ref)
    tmp = tempfile.mkdtemp(prefix="mlopsc-diff-")
    try:
        if not materialize(root, commit, spec_rel, tmp):
            return side
        analyse(
            os.path.join(tmp, *spec_rel.split("/")), side, today=today, tmp=tmp, prefix=f"{ref}:"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return side


def read_head(spec: str, *, today: dt.date) -> Side:
    side = Side(label="working tree")
    analyse(spec, side, today=today)
    return side


# --------------------------------------------------------------------------- comparing


@dataclass(frozen=True)
class FieldChange:
    path: str
    old: Any
    new: Any

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "old": None if self.old is _MISSING else self.old,
            "new": None if self.new is _MISSING else self.new,
            "text": f"{self.path}: {show(self.old)} → {show(self.new)}",
        }


@dataclass
class ObjectChange:
    kind: str
    section: str
    name: str
    action: str  # added | removed | changed
    fields: list[FieldChange] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "action": self.action,
            "fields": [f.as_dict() for f in self.fields],
        }


def show(value: Any) -> str:
    """A short, readable rendering of a spec value."""
    if value is _MISSING:
        return "(unset)"
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
    import json

    return _DIGEST.sub(r"sha256:\1…", json.dumps(value, sort_keys=True, default=str))


def _keyed(items: list[Any]) -> dict[str, Any] | None:
    """A list of mappings that all have a unique `name` or `id`, as a dict; else None."""
    if not items or not all(isinstance(i, dict) for i in items):
        return None
    for key in ("name", "id"):
        names = [i.get(key) for i in items]
        if all(isinstance(n, str) for n in names) and len(set(names)) == len(names):
            return {str(i[key]): i for i in items}
    return None


def compare_values(old: Any, new: Any, path: str, out: list[FieldChange]) -> None:
    """Every leaf that differs between two values, with a dotted path."""
    if old == new:
        return
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new), key=str):
            sub = f"{path}.{key}" if path else str(key)
            compare_values(old.get(key, _MISSING), new.get(key, _MISSING), sub, out)
        return
    if isinstance(old, list) and isinstance(new, list):
        a, b = _keyed(old), _keyed(new)
        if a is not None and b is not None:
            for key in sorted(set(a) | set(b)):
                compare_values(a.get(key, _MISSING), b.get(key, _MISSING), f"{path}[{key}]", out)
            return
    out.append(FieldChange(path, old, new))


def _items(data: dict[str, Any] | None, section: str, key: str) -> dict[str, Any]:
    if data is None:
        return {}
    raw = data.get(section)
    if not isinstance(raw, list):
        return {}
    found: dict[str, Any] = {}
    for item in raw:
        if isinstance(item, dict) and isinstance(item.get(key), str):
            found.setdefault(item[key], item)
    return found


def _waiver_key(w: Any) -> str:
    return f"{w.get('rule')} on {w.get('target')}" if isinstance(w, dict) else str(w)


def _governance(data: dict[str, Any] | None) -> dict[str, Any]:
    if data is None:
        return {}
    gov = data.get("governance")
    return gov if isinstance(gov, dict) else {}


def compare_objects(old: dict[str, Any] | None, new: dict[str, Any] | None) -> list[ObjectChange]:
    """Objects added, removed or changed, section by section in spec order."""
    changes: list[ObjectChange] = []

    def diff_table(section: str, kind: str, a: dict[str, Any], b: dict[str, Any]) -> None:
        for name in sorted(set(a) | set(b)):
            if name not in a:
                changes.append(ObjectChange(kind, section, name, "added"))
            elif name not in b:
                changes.append(ObjectChange(kind, section, name, "removed"))
            else:
                fields: list[FieldChange] = []
                compare_values(a[name], b[name], "", fields)
                if fields:
                    changes.append(ObjectChange(kind, section, name, "changed", fields))

    for key in ("metadata", "outputs"):
        fields: list[FieldChange] = []
        compare_values((old or {}).get(key, _MISSING), (new or {}).get(key, _MISSING), key, fields)
        if fields and old is not None and new is not None:
            changes.append(ObjectChange(key, key, key, "changed", fields))
    for section, kind, key in SECTIONS:
        diff_table(section, kind, _items(old, section, key), _items(new, section, key))
    gov_a, gov_b = _governance(old), _governance(new)
    fields = []
    compare_values(gov_a.get("frameworks", []), gov_b.get("frameworks", []), "frameworks", fields)
    if fields and old is not None:
        changes.append(ObjectChange("governance", "governance", "frameworks", "changed", fields))
    policies_a = {str(p.get("id")): p for p in gov_a.get("policies") or [] if isinstance(p, dict)}
    policies_b = {str(p.get("id")): p for p in gov_b.get("policies") or [] if isinstance(p, dict)}
    diff_table("policies", "policy", policies_a, policies_b)
    waivers_a = {_waiver_key(w): w for w in gov_a.get("waivers") or []}
    waivers_b = {_waiver_key(w): w for w in gov_b.get("waivers") or []}
    diff_table("waivers", "waiver", waivers_a, waivers_b)
    return changes


# --------------------------------------------------------------------------- the report


@dataclass
class Report:
    base: Side
    head: Side
    changes: list[ObjectChange]
    newly_failing: list[dict[str, str]]
    newly_passing: list[dict[str, str]]
    waivers: dict[str, list[dict[str, Any]]]
    approvals: list[dict[str, Any]]
    environments: list[str]
    generated: dict[str, Any]
    today: str

    def counts(self) -> dict[str, int]:
        counted: dict[str, int] = {}
        for change in self.changes:
            key = f"{change.kind} {change.action}"
            counted[key] = counted.get(key, 0) + 1
        return counted

    def summary(self) -> str:
        """One line: what changed, rules, approvals, generated files."""
        parts: list[str] = []
        if self.base.status == "absent":
            parts.append(f"the spec is new (absent at {self.base.label})")
        by_kind: dict[tuple[str, str], int] = {}
        for change in self.changes:
            by_kind[(change.kind, change.action)] = by_kind.get((change.kind, change.action), 0) + 1
        for (kind, action), n in by_kind.items():
            parts.append(f"{n} {kind}{'s' if n != 1 and not kind.endswith('s') else ''} {action}")
        if not self.changes:
            parts.append("no change in meaning")
        if self.newly_failing:
            parts.append(f"{len(self.newly_failing)} rule(s) newly failing")
        if self.newly_passing:
            parts.append(f"{len(self.newly_passing)} rule(s) newly passing")
        expiring = self.waivers.get("expiring", [])
        if expiring:
            parts.append(f"{len(expiring)} waiver(s) expiring or expired")
        gen = self.generated
        if gen.get("available"):
            n = len(gen["added"]) + len(gen["removed"]) + len(gen["changed"])
            parts.append(f"{n} generated file{'s' * (n != 1)} change")
        if self.approvals:
            parts.append("approvals: " + ", ".join(a["handle"] for a in self.approvals))
        return "; ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        def side(s: Side) -> dict[str, Any]:
            return {"label": s.label, "status": s.status, "problems": list(s.problems)}

        return {
            "base": side(self.base),
            "head": side(self.head),
            "summary": self.summary(),
            "changes": [c.as_dict() for c in self.changes],
            "governance": {
                "available": self.base.outcomes is not None and self.head.outcomes is not None,
                "newly_failing": self.newly_failing,
                "newly_passing": self.newly_passing,
            },
            "waivers": self.waivers,
            "environments_affected": self.environments,
            "approvals": self.approvals,
            "generated": self.generated,
        }


def _rules(base: Side, head: Side) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    before = base.outcomes or {}
    after = head.outcomes or {}
    failing: list[dict[str, str]] = []
    passing: list[dict[str, str]] = []
    if head.outcomes is None:
        return failing, passing
    for (rule, target), (status, message) in sorted(after.items()):
        was = before.get((rule, target), ("not applicable", ""))[0]
        if status in FAILING and was not in FAILING:
            failing.append(
                {"rule": rule, "target": target, "status": status, "was": was, "message": message}
            )
    if base.outcomes is None:
        return failing, passing
    for (rule, target), (status, message) in sorted(before.items()):
        now = after.get((rule, target), ("not applicable", ""))[0]
        if status in FAILING and now not in FAILING:
            passing.append(
                {"rule": rule, "target": target, "status": now, "was": status, "message": message}
            )
    return failing, passing


def _waivers(
    changes: list[ObjectChange], head: Side, today: dt.date
) -> dict[str, list[dict[str, Any]]]:
    from compiler.governance import EXPIRING_DAYS

    added = [{"waiver": c.name} for c in changes if c.kind == "waiver" and c.action == "added"]
    removed = [{"waiver": c.name} for c in changes if c.kind == "waiver" and c.action == "removed"]
    expiring: list[dict[str, Any]] = []
    for w in _governance(head.normalized or head.data).get("waivers") or []:
        if not isinstance(w, dict):
            continue
        try:
            expires = dt.date.fromisoformat(str(w.get("expires")))
        except ValueError:
            continue
        days = (expires - today).days
        if days <= EXPIRING_DAYS:
            expiring.append(
                {
                    "waiver": _waiver_key(w),
                    "expires": expires.isoformat(),
                    "days_left": days,
                    "expired": days < 0,
                }
            )
    return {"added": added, "removed": removed, "expiring": expiring}


def _generated(base: Side, head: Side) -> dict[str, Any]:
    if base.status == "absent" and head.files is not None:
        return {"available": True, "added": sorted(head.files), "removed": [], "changed": []}
    if base.files is None or head.files is None:
        reasons = [r for r in (base.render_problem, head.render_problem) if r]
        return {
            "available": False,
            "reason": "; ".join(reasons) or "a side could not be compiled",
            "added": [],
            "removed": [],
            "changed": [],
        }
    a, b = base.files, head.files
    return {
        "available": True,
        "added": sorted(set(b) - set(a)),
        "removed": sorted(set(a) - set(b)),
        "changed": sorted(p for p in set(a) & set(b) if a[p] != b[p]),
    }


_ENV_PATH = re.compile(r"^(?:kubernetes/([^/]+)/|argocd/([^/]+)\.yaml$)")


def _environments(
    changes: list[ObjectChange], generated: dict[str, Any], head: Side, base: Side
) -> list[str]:
    envs: set[str] = set()
    if generated.get("available"):
        for path in [*generated["added"], *generated["removed"], *generated["changed"]]:
            m = _ENV_PATH.match(path)
            if m:
                envs.add(m.group(1) or m.group(2))
    else:
        deploys = {"model", "feature view", "source", "entity", "slo"}
        if any(c.kind in deploys for c in changes):
            envs |= set(_items(head.data, "environments", "name"))
            envs |= set(_items(base.data, "environments", "name"))
    envs |= {c.name for c in changes if c.kind == "environment"}
    return sorted(envs)


def _approvals(
    changes: list[ObjectChange], envs: list[str], base: Side, head: Side
) -> list[dict[str, Any]]:
    why: dict[str, set[str]] = {}

    def need(team: str | None, reason: str) -> None:
        if team:
            why.setdefault(team, set()).add(reason)

    for source in (head, base):
        if source.owners:
            project_owner = source.owners[""][""]
            break
    else:
        project_owner = None
    governance_approvers: set[str] = set()
    for s in (head, base):
        for reviewers in s.reviewers.values():
            governance_approvers |= set(reviewers)
    for c in changes:
        label = f"{c.kind} {c.name} {c.action}"
        owner = None
        for s in (head, base):
            owner = s.owners.get(c.section, {}).get(c.name)
            if owner:
                break
        risky = any(f.path == "risk" for f in c.fields)
        if c.kind in ("policy", "waiver", "governance") or risky:
            for team in sorted(governance_approvers):
                need(team, label)
            if c.kind == "waiver":
                for s in (head, base):
                    for w in _governance(s.data).get("waivers") or []:
                        if isinstance(w, dict) and _waiver_key(w) == c.name:
                            need(str(w.get("approved_by")), label)
            need(project_owner, label)
        else:
            need(owner or project_owner, label)
    for env in envs:
        for s in (head, base):
            if env in s.reviewers:
                for team in s.reviewers[env]:
                    need(team, f"environment {env} is affected and requires approval")
                break
    github = {**base.github, **head.github}
    return [
        {
            "team": team,
            "github_team": github.get(team),
            "handle": f"@{github[team]}" if team in github else team,
            "reasons": sorted(reasons),
        }
        for team, reasons in sorted(why.items())
    ]


def semantic_diff(spec: str, ref: str, *, today: dt.date) -> Report:
    """Compare the spec at `ref` (read from git) with the working tree's."""
    base = read_base(spec, ref, today=today)
    head = read_head(spec, today=today)
    # Defaults applied on both sides when both pass the schema; else the data as written.
    old: dict[str, Any] | None = base.data
    new: dict[str, Any] | None = head.data
    if base.normalized is not None and head.normalized is not None:
        old, new = base.normalized, head.normalized
    changes = compare_objects(old, new)
    failing, passing = _rules(base, head)
    generated = _generated(base, head)
    envs = _environments(changes, generated, head, base)
    return Report(
        base=base,
        head=head,
        changes=changes,
        newly_failing=failing,
        newly_passing=passing,
        waivers=_waivers(changes, head, today),
        approvals=_approvals(changes, envs, base, head),
        environments=envs,
        generated=generated,
        today=today.isoformat(),
    )


# --------------------------------------------------------------------------- rendering


def render_json(report: Report) -> str:
    import json

    return json.dumps(report.as_dict(), indent=2, ensure_ascii=False, default=str) + "\n"


def render_text(report: Report) -> str:
    d = report.as_dict()
    lines = [f"mlopsc diff {report.base.label} → {report.head.label}: {d['summary']}"]
    for name, s in (("base", report.base), ("working tree", report.head)):
        if s.status not in ("valid", "absent"):
            lines.append(f"{name} spec is {s.status}:")
            lines += [f"  {p}" for p in s.problems]
    for c in report.changes:
        lines.append(f"{c.action:>8} {c.kind} {c.name}")
        lines += [f"           {f.path}: {show(f.old)} → {show(f.new)}" for f in c.fields]
    for r in report.newly_failing:
        lines.append(f"newly failing {r['rule']} on {r['target']}: {r['message']}")
    for r in report.newly_passing:
        lines.append(f"newly passing {r['rule']} on {r['target']} (now {r['status']})")
    for w in report.waivers["expiring"]:
        state = "expired" if w["expired"] else f"expires in {w['days_left']} days"
        lines.append(f"waiver {w['waiver']} {state} ({w['expires']})")
    if report.environments:
        lines.append("environments affected: " + ", ".join(report.environments))
    for a in report.approvals:
        lines.append(f"approval needed: {a['handle']} ({'; '.join(a['reasons'])})")
    gen = report.generated
    if gen["available"]:
        for key in ("added", "removed", "changed"):
            lines += [f"generated {key}: {p}" for p in gen[key]]
    else:
        lines.append(f"generated files: not compared ({gen['reason']})")
    return "\n".join(lines) + "\n"


def render_markdown(report: Report) -> str:
    """A PR comment: the summary first, the details folded."""
    from compiler.render.markdown import environment

    env = environment()
    env.filters["show"] = show
    template = env.get_template("diff.md.j2")
    text: str = template.render(r=report.as_dict(), changes=report.changes)
    return text
