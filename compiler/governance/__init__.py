"""Governance: run the enabled rule packs and policies, apply waivers, report."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from compiler import diagnostics as dx
from compiler.diagnostics import Sink
from compiler.governance.rules import PACKS, RULES, Result, Rule
from compiler.load import SourceMap
from compiler.meaning import Index
from compiler.rulekinds import Pack, RuleSeverity, Status, WaiverState
from compiler.spec.models import Policy, Waiver

__all__ = [
    "EXPIRING_DAYS",
    "POLICY",
    "Governance",
    "Outcome",
    "Pack",
    "RuleSeverity",
    "Status",
    "WaiverState",
    "waiver_state",
]

EXPIRING_DAYS = 30
POLICY = "policy"  # the framework of the project's own CEL policies, beside the packs


def waiver_state(waiver: Waiver, today: dt.date, *, used: bool) -> tuple[WaiverState, int]:
    """(state, days left) of a waiver on `today`; the one place waiver expiry is computed."""
    days = (waiver.expires - today).days
    if days < 0:
        return WaiverState.EXPIRED, days
    if not used:
        return WaiverState.UNUSED, days
    if days <= EXPIRING_DAYS:
        return WaiverState.EXPIRING_SOON, days
    return WaiverState.ACTIVE, days


@dataclass(frozen=True)
class Outcome:
    """A rule result with its final status once waivers are applied."""

    result: Result
    status: Status
    severity: RuleSeverity
    waiver: Waiver | None = None
    waiver_expired: bool = False

    @property
    def rule(self) -> str:
        return self.result.rule


@dataclass
class Governance:
    """Everything the compliance report needs to know about rule results."""

    frameworks: list[Pack]
    outcomes: list[Outcome] = field(default_factory=list)
    policies: dict[str, Policy] = field(default_factory=dict)
    today: dt.date = field(default_factory=dt.date.today)

    def rule_info(self, rule_id: str) -> tuple[str, str, str]:
        """(framework: a pack or POLICY, title, source) of a built-in rule or a policy."""
        if rule_id in RULES:
            r = RULES[rule_id]
            return r.pack, r.title, r.source
        policy = self.policies[rule_id]
        return POLICY, policy.description, "project policy"


def known_rule_ids(policies: list[Policy]) -> set[str]:
    return set(RULES) | {p.id for p in policies}


def check_waiver_names(ix: Index, smap: SourceMap, sink: Sink) -> None:
    """Waivers name a known rule and an existing target; policy ids do not shadow rules."""
    gov = ix.project.governance
    known = known_rule_ids(gov.policies)
    for i, policy in enumerate(gov.policies):
        if policy.id in RULES:
            sink.error(
                dx.DUPLICATE_RULE,
                f"policy id '{policy.id}' is a built-in rule id",
                smap.span(("governance", "policies", i, "id")),
            )
    targets = (
        {ix.project.metadata.name}
        | set(ix.models)
        | set(ix.views)
        | set(ix.sources)
        | set(ix.slos)
        | set(ix.environments)
    )
    for i, waiver in enumerate(gov.waivers):
        if waiver.rule not in known:
            sink.error(
                dx.UNKNOWN_RULE,
                f"waiver names unknown rule '{waiver.rule}'",
                smap.span(("governance", "waivers", i, "rule")),
                hint=dx.suggest(waiver.rule, known) or "see `mlopsc rules`",
            )
        if waiver.target not in targets:
            sink.error(
                dx.WAIVER_TARGET,
                f"waiver target '{waiver.target}' names nothing in the spec",
                smap.span(("governance", "waivers", i, "target")),
                hint=dx.suggest(waiver.target, targets),
            )


def _enabled_rules(frameworks: list[Pack]) -> list[Rule]:
    return [r for r in RULES.values() if r.pack in frameworks]


def evaluate_governance(ix: Index, smap: SourceMap, sink: Sink, *, today: dt.date) -> Governance:
    """Run the rule packs and policies, apply waivers and report every violation."""
    gov_spec = ix.project.governance
    frameworks = [f for f in PACKS if f in gov_spec.frameworks]
    results: list[tuple[Result, RuleSeverity]] = []
    for r in _enabled_rules(frameworks):
        results.extend((res, r.severity) for res in r.results(ix))
    if gov_spec.policies:
        from compiler.governance.policies import compile_policies, run_policies

        compiled = compile_policies(ix, smap, sink)
        by_id = {c.policy.id: RuleSeverity(c.policy.severity) for c in compiled}
        results.extend((res, by_id[res.rule]) for res in run_policies(compiled, ix, smap, sink))
    gov = Governance(frameworks, policies={p.id: p for p in gov_spec.policies}, today=today)
    waivers = {(w.rule, w.target): (i, w) for i, w in enumerate(gov_spec.waivers)}
    used: set[tuple[str, str]] = set()
    for res, severity in results:
        key = (res.rule, res.target)
        found = waivers.get(key)
        if res.passed:
            gov.outcomes.append(Outcome(res, Status.PASS, severity))
            continue
        if found is not None:
            used.add(key)
            _, waiver = found
            state, _ = waiver_state(waiver, today, used=True)
            if state is not WaiverState.EXPIRED:
                gov.outcomes.append(Outcome(res, Status.WAIVED, severity, waiver))
                sink.note(
                    res.rule,
                    f"{res.message} (waived by {waiver.approved_by} until {waiver.expires}: {waiver.reason})",
                    smap.span(res.path),
                )
                continue
            gov.outcomes.append(Outcome(res, Status.FAIL, severity, waiver, waiver_expired=True))
            sink.error(
                res.rule,
                f"{res.message} (its waiver expired on {waiver.expires})",
                smap.span(res.path),
                hint="renew the waiver with a new `expires` date, or fix the spec",
            )
            continue
        status = Status.FAIL if severity is RuleSeverity.ERROR else Status.WARNING
        gov.outcomes.append(Outcome(res, status, severity))
        rule_obj = RULES.get(res.rule)
        hint = f"{rule_obj.source}: {rule_obj.rationale}" if rule_obj else None
        if severity is RuleSeverity.ERROR:
            sink.error(res.rule, res.message, smap.span(res.path), hint=hint)
        else:
            sink.warning(res.rule, res.message, smap.span(res.path), hint=hint)
    for key, (i, waiver) in sorted(waivers.items()):
        if key not in used:
            sink.warning(
                dx.WAIVER_UNUSED,
                f"waiver for '{waiver.rule}' on '{waiver.target}' matches no violation",
                smap.span(("governance", "waivers", i)),
                hint="remove the waiver, or check its rule and target",
            )
    return gov
