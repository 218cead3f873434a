"""The diff as text (a terminal), JSON (machines) or Markdown (a pull-request comment)."""

from __future__ import annotations

import json

from compiler.diff.compare import UNSET, FieldChange, ObjectChange, Value, show
from compiler.diff.report import DiffReport, RuleChange
from compiler.diff.sides import Side, SideStatus
from compiler.render.text import one_line

JsonOut = object  # what json.dumps takes: built from the typed report, only here


def _value(v: Value) -> JsonOut:
    return None if v is UNSET else v


def _field(f: FieldChange) -> JsonOut:
    return {"path": f.path, "old": _value(f.old), "new": _value(f.new), "text": f.text}


def _change(c: ObjectChange) -> JsonOut:
    return {
        "kind": c.kind,
        "name": c.name,
        "action": str(c.action),
        "fields": [_field(f) for f in c.fields],
    }


def _rule(r: RuleChange) -> JsonOut:
    return {
        "rule": r.rule,
        "target": r.target,
        "status": str(r.status),
        "was": str(r.was),
        "message": r.message,
    }


def _side(s: Side) -> JsonOut:
    return {"label": s.label, "status": str(s.status), "problems": list(s.problems)}


def render_json(report: DiffReport) -> str:
    gen = report.generated
    generated: dict[str, JsonOut] = {
        "available": gen.available,
        "added": list(gen.added),
        "removed": list(gen.removed),
        "changed": list(gen.changed),
    }
    if not gen.available:
        generated["reason"] = gen.reason
    document = {
        "base": _side(report.base),
        "head": _side(report.head),
        "summary": report.summary(),
        "changes": [_change(c) for c in report.changes],
        "versions": list(report.versions),
        "governance": {
            "available": report.governance_available,
            "newly_failing": [_rule(r) for r in report.newly_failing],
            "newly_passing": [_rule(r) for r in report.newly_passing],
        },
        "waivers": {
            "added": [{"waiver": w} for w in report.waivers.added],
            "removed": [{"waiver": w} for w in report.waivers.removed],
            "expiring": [
                {
                    "waiver": w.waiver,
                    "expires": w.expires,
                    "days_left": w.days_left,
                    "expired": w.expired,
                }
                for w in report.waivers.expiring
            ],
        },
        "environments_affected": list(report.environments),
        "approvals": [
            {
                "team": a.team,
                "github_team": a.github_team,
                "handle": a.handle,
                "reasons": list(a.reasons),
            }
            for a in report.approvals
        ],
        "generated": generated,
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def render_text(report: DiffReport) -> str:
    lines = [f"mlopsc diff {report.base.label} → {report.head.label}: {report.summary()}"]
    for name, s in (("base", report.base), ("working tree", report.head)):
        if s.status not in (SideStatus.VALID, SideStatus.ABSENT):
            lines.append(f"{name} spec is {s.status}:")
            lines += [f"  {p}" for p in s.problems]
    for c in report.changes:
        lines.append(f"{c.action:>8} {c.kind} {c.name}")
        lines += [f"           {f.path}: {show(f.old)} → {show(f.new)}" for f in c.fields]
    lines += [f"registry version: {v}" for v in report.versions]
    for r in report.newly_failing:
        lines.append(f"newly failing {r.rule} on {r.target}: {r.message}")
    for r in report.newly_passing:
        lines.append(f"newly passing {r.rule} on {r.target} (now {r.status})")
    for w in report.waivers.expiring:
        state = "expired" if w.expired else f"expires in {w.days_left} days"
        lines.append(f"waiver {w.waiver} {state} ({w.expires})")
    if report.environments:
        lines.append("environments affected: " + ", ".join(report.environments))
    for a in report.approvals:
        lines.append(f"approval needed: {a.handle} ({'; '.join(a.reasons)})")
    gen = report.generated
    if gen.available:
        for key, paths in (
            ("added", gen.added),
            ("removed", gen.removed),
            ("changed", gen.changed),
        ):
            lines += [f"generated {key}: {p}" for p in paths]
    else:
        lines.append(f"generated files: not compared ({gen.reason})")
    # Spec text cannot add a line or reach the terminal as a control sequence.
    return "\n".join(one_line(line) for line in lines) + "\n"


def render_markdown(report: DiffReport) -> str:
    """A PR comment: the summary first, the details folded."""
    from compiler.render.markdown import environment

    text: str = environment().get_template("diff.md.j2").render(r=report)
    return text
