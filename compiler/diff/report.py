"""What a change means, computed from the two sides: objects changed, rules newly failing or
passing, waivers, the environments whose generated files change, and the approvals needed.
Owners, reviewers, waiver expiry and file layout are asked of the plans and conventions."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass

from compiler.conventions import argocd_file, env_folder
from compiler.diff.compare import (
    DEPLOYED,
    Action,
    ObjectChange,
    Snapshot,
    compare_objects,
    data_snapshot,
    plan_snapshot,
    waiver_key,
)
from compiler.diff.sides import Side, SideStatus
from compiler.governance import Status, WaiverState, waiver_state
from compiler.plan import Plan

FAILING = frozenset({Status.FAIL, Status.WARNING})
NOT_APPLICABLE = "not applicable"


@dataclass(frozen=True)
class RuleChange:
    """A rule on one subject whose result crossed between failing and not failing."""

    rule: str
    target: str
    status: str  # now: a Status, or "not applicable"
    was: str
    message: str


@dataclass(frozen=True)
class WaiverExpiry:
    waiver: str
    expires: str
    days_left: int
    expired: bool


@dataclass(frozen=True)
class Waivers:
    added: tuple[str, ...]
    removed: tuple[str, ...]
    expiring: tuple[WaiverExpiry, ...]


@dataclass(frozen=True)
class Approval:
    team: str
    github_team: str | None
    reasons: tuple[str, ...]

    @property
    def handle(self) -> str:
        return f"@{self.github_team}" if self.github_team else self.team


@dataclass(frozen=True)
class GeneratedFiles:
    """Generated files that change, when both sides render; else why they were not compared."""

    available: bool
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    reason: str = ""

    @property
    def paths(self) -> tuple[str, ...]:
        return (*self.added, *self.removed, *self.changed)


@dataclass(frozen=True)
class DiffReport:
    base: Side
    head: Side
    changes: tuple[ObjectChange, ...]
    newly_failing: tuple[RuleChange, ...]
    newly_passing: tuple[RuleChange, ...]
    waivers: Waivers
    approvals: tuple[Approval, ...]
    environments: tuple[str, ...]
    generated: GeneratedFiles
    # Registry versions that moved in mlops.lock.yaml: "credit-risk 3 -> 4, alias champion moved".
    versions: tuple[str, ...] = ()

    @property
    def governance_available(self) -> bool:
        return self.base.plan is not None and self.head.plan is not None

    def summary(self) -> str:
        """One line: what changed, rules, approvals, generated files."""
        parts: list[str] = []
        if self.base.status is SideStatus.ABSENT:
            parts.append(f"the spec is new (absent at {self.base.label})")
        by_kind = Counter((c.kind, c.action) for c in self.changes)
        for (kind, action), n in by_kind.items():
            parts.append(f"{n} {kind}{'s' if n != 1 and not kind.endswith('s') else ''} {action}")
        if not self.changes and not self.versions:
            parts.append("no change in meaning")
        if self.versions:
            n = len(self.versions)
            parts.append(f"{n} registry version{'s' * (n != 1)} moved")
        if self.newly_failing:
            parts.append(f"{len(self.newly_failing)} rule(s) newly failing")
        if self.newly_passing:
            parts.append(f"{len(self.newly_passing)} rule(s) newly passing")
        if self.waivers.expiring:
            parts.append(f"{len(self.waivers.expiring)} waiver(s) expiring or expired")
        if self.generated.available:
            n = len(self.generated.paths)
            parts.append(f"{n} generated file{'s' * (n != 1)} change")
        if self.approvals:
            parts.append("approvals: " + ", ".join(a.handle for a in self.approvals))
        return "; ".join(parts)


def snapshot(side: Side) -> Snapshot:
    return plan_snapshot(side.plan) if side.plan is not None else data_snapshot(side.data)


Outcomes = dict[tuple[str, str], tuple[Status, str]]


def _outcomes(plan: Plan | None) -> Outcomes | None:
    if plan is None:
        return None
    return {
        (o.rule, o.result.target): (o.status, o.result.message) for o in plan.governance.outcomes
    }


def rule_changes(base: Side, head: Side) -> tuple[tuple[RuleChange, ...], tuple[RuleChange, ...]]:
    """Rules newly failing on the head side, and newly passing (failing on the base side)."""
    before, after = _outcomes(base.plan), _outcomes(head.plan)
    failing: list[RuleChange] = []
    passing: list[RuleChange] = []
    if after is None:
        return (), ()
    for (rule, target), (status, message) in sorted(after.items()):
        was = (before or {}).get((rule, target))
        was_status = str(was[0]) if was else NOT_APPLICABLE
        if status in FAILING and was_status not in FAILING:
            failing.append(RuleChange(rule, target, status, was_status, message))
    if before is not None:
        for (rule, target), (status, message) in sorted(before.items()):
            now = after.get((rule, target))
            now_status = str(now[0]) if now else NOT_APPLICABLE
            if status in FAILING and now_status not in FAILING:
                passing.append(RuleChange(rule, target, now_status, status, message))
    return tuple(failing), tuple(passing)


def waiver_changes(changes: tuple[ObjectChange, ...], head: Side) -> Waivers:
    """Waivers added and removed, and the head side's waivers expiring soon or expired."""
    waivers = [c for c in changes if c.kind == "waiver"]
    expiring: list[WaiverExpiry] = []
    if head.plan is not None:
        today: dt.date = head.plan.governance.today
        for w in head.plan.waivers:
            state, days = waiver_state(w, today, used=True)
            if state in (WaiverState.EXPIRED, WaiverState.EXPIRING_SOON):
                expiring.append(
                    WaiverExpiry(
                        waiver_key(w.rule, w.target),
                        w.expires.isoformat(),
                        days,
                        state is WaiverState.EXPIRED,
                    )
                )
    return Waivers(
        added=tuple(c.name for c in waivers if c.action is Action.ADDED),
        removed=tuple(c.name for c in waivers if c.action is Action.REMOVED),
        expiring=tuple(expiring),
    )


def generated_changes(base: Side, head: Side) -> GeneratedFiles:
    if base.status is SideStatus.ABSENT and head.files is not None:
        return GeneratedFiles(True, added=tuple(sorted(head.files)))
    if base.files is None or head.files is None:
        reasons = [r for r in (base.render_problem, head.render_problem) if r]
        return GeneratedFiles(False, reason="; ".join(reasons) or "a side could not be compiled")
    a, b = base.files, head.files
    return GeneratedFiles(
        True,
        added=tuple(sorted(set(b) - set(a))),
        removed=tuple(sorted(set(a) - set(b))),
        changed=tuple(sorted(p for p in set(a) & set(b) if a[p] != b[p])),
    )


def affected_environments(
    changes: tuple[ObjectChange, ...], generated: GeneratedFiles, snaps: tuple[Snapshot, ...]
) -> tuple[str, ...]:
    """Environments whose generated files change (or, when files could not be compared, every
    environment when something deployed changed), and environments changed themselves."""
    names: set[str] = set()
    for s in snaps:
        names |= set(s.items.get("environments", {}))
    envs: set[str] = set()
    if generated.available:
        for env in names:
            folder, app = env_folder(env) + "/", argocd_file(env)
            if any(p.startswith(folder) or p == app for p in generated.paths):
                envs.add(env)
    elif any(c.kind in DEPLOYED for c in changes):
        envs |= names
    envs |= {c.name for c in changes if c.kind == "environment"}
    return tuple(sorted(envs))


def _owners(plans: list[Plan]) -> dict[tuple[str, str], str]:
    """(section, name) -> owning team of every owned object; the first plan wins."""
    owners: dict[tuple[str, str], str] = {}
    for plan in reversed(plans):
        owners.update({("models", m.name): plan.owner_name(m) for m in plan.models})
        owners.update({("features", v.name): plan.owner_name(v) for v in plan.views})
        owners.update({("sources", s.name): plan.owner_name(s) for s in plan.sources})
        owners.update({("slos", s.slo.name): s.owner.name for s in plan.slos})
    return owners


def approvals(
    changes: tuple[ObjectChange, ...], envs: tuple[str, ...], base: Side, head: Side
) -> tuple[Approval, ...]:
    """Who must approve: owners of what changed; for governance changes (policies, waivers,
    frameworks, a risk tier) the approvers of gated environments, the waiver's approver and
    the project owner; the reviewers of each gated environment affected."""
    plans = [p for p in (head.plan, base.plan) if p is not None]
    why: dict[str, set[str]] = {}

    def need(team: str | None, reason: str) -> None:
        if team:
            why.setdefault(team, set()).add(reason)

    project_owner = plans[0].metadata.owner if plans else None
    owners = _owners(plans)
    reviewers: dict[str, tuple[str, ...]] = {}  # gated env -> reviewers (head's first)
    for plan in reversed(plans):
        for ep in plan.environments:
            if ep.needs_approval:
                reviewers[ep.name] = tuple(ep.env.approval.reviewers)
    governance_approvers = sorted({t for teams in reviewers.values() for t in teams})
    waiver_approvers: dict[str, set[str]] = {}
    for s in (snapshot(head), snapshot(base)):
        for key, w in s.items.get("waivers", {}).items():
            if isinstance(w, dict) and w.get("approved_by") is not None:
                waiver_approvers.setdefault(key, set()).add(str(w["approved_by"]))
    for c in changes:
        label = f"{c.kind} {c.name} {c.action}"
        risky = any(f.path == "risk" for f in c.fields)
        if c.kind in ("policy", "waiver", "governance") or risky:
            for team in governance_approvers:
                need(team, label)
            for team in sorted(waiver_approvers.get(c.name, ())) if c.kind == "waiver" else ():
                need(team, label)
            need(project_owner, label)
        else:
            need(owners.get((c.section, c.name)) or project_owner, label)
    for env in envs:
        for team in reviewers.get(env, ()):
            need(team, f"environment {env} is affected and requires approval")
    github: dict[str, str] = {}
    for plan in reversed(plans):
        github.update({t.name: t.github_team for t in plan.teams.values() if t.github_team})
    return tuple(
        Approval(team, github.get(team), tuple(sorted(reasons)))
        for team, reasons in sorted(why.items())
    )


def compare_sides(base: Side, head: Side) -> DiffReport:
    """Everything the diff says about two sides."""
    # Defaults applied on both sides when both compile; else both as written.
    if base.plan is not None and head.plan is not None:
        old: Snapshot | None = plan_snapshot(base.plan)
        new: Snapshot | None = plan_snapshot(head.plan)
    else:
        old = data_snapshot(base.data) if base.data is not None else None
        new = data_snapshot(head.data) if head.data is not None else None
    changes = tuple(compare_objects(old, new))
    failing, passing = rule_changes(base, head)
    generated = generated_changes(base, head)
    snaps = tuple(s for s in (old, new) if s is not None)
    envs = affected_environments(changes, generated, snaps)
    return DiffReport(
        base=base,
        head=head,
        changes=changes,
        newly_failing=failing,
        newly_passing=passing,
        waivers=waiver_changes(changes, head),
        approvals=approvals(changes, envs, base, head),
        environments=envs,
        generated=generated,
        versions=version_changes(base, head),
    )


def version_changes(base: Side, head: Side) -> tuple[str, ...]:
    """Each model whose artifact the lock resolves to another version than at the base."""
    from compiler.registry.lock import ModelEntry
    from compiler.registry.resolve import version_change

    if base.plan is None or head.plan is None:
        return ()
    lines: list[str] = []
    for name, new in sorted(head.plan.resolved.items()):
        old = base.plan.resolved.get(name)
        line = version_change(
            name,
            ModelEntry(old.uri, old.registry, old.version, old.alias, old.storage_uri, old.digest)
            if old is not None
            else None,
            ModelEntry(new.uri, new.registry, new.version, new.alias, new.storage_uri, new.digest),
        )
        if line:
            lines.append(line)
    return tuple(lines)
