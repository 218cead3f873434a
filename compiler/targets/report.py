"""Facts of the compliance report, computed from the plan; the templates only lay them out.

Everything here is plain data (dataclasses of strings, numbers and lists), sorted, so that the
Markdown and HTML reports show the same content in the same order and stay deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from compiler.plan import (
    POLICY,
    FeatureView,
    Model,
    Outcome,
    Pack,
    Plan,
    RuleSeverity,
    Status,
    Waiver,
    WaiverState,
    waiver_state,
)
from compiler.targets.annex import AnnexSection, annex_iv

FRAMEWORK_NAMES: dict[str, str] = {
    Pack.BASELINE: "Baseline (SRE and supply-chain practice)",
    Pack.EU_AI_ACT: "EU AI Act (Regulation (EU) 2024/1689)",
    Pack.GDPR: "GDPR (Regulation (EU) 2016/679)",
    POLICY: "Project policies (CEL)",
}
SUBJECT_KINDS = {
    "models": "model",
    "sources": "source",
    "features": "feature view",
    "environments": "environment",
    "slos": "SLO",
}


@dataclass(frozen=True)
class Counts:
    """Pass / fail / waived / warning counts of one group of rule results."""

    label: str
    risk: str = ""
    passed: int = 0
    failed: int = 0
    waived: int = 0
    warnings: int = 0

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.waived + self.warnings


@dataclass(frozen=True)
class WaiverView:
    """A waiver as an auditor reads it."""

    rule: str
    target: str
    reason: str
    approved_by: str
    approver_email: str
    expires: str
    days_left: int
    state: WaiverState

    @property
    def expiring_soon(self) -> bool:
        return self.state is WaiverState.EXPIRING_SOON


@dataclass(frozen=True)
class RuleRow:
    """One rule result on one subject."""

    rule: str
    framework: str
    title: str
    source: str
    subject: str
    subject_kind: str
    status: Status
    severity: RuleSeverity
    message: str
    waiver: WaiverView | None


@dataclass(frozen=True)
class RecordOfProcessing:
    """GDPR Art. 30 facts of one source holding personal data."""

    source: str
    kind: str
    location: str
    owner: str
    columns: list[str]
    legal_basis: str
    retention: str
    views: list[str]
    pii_features: list[str]
    models: list[str]
    trained_by: list[str]


@dataclass
class ReportFacts:
    """Everything the compliance report shows."""

    project: str
    description: str
    owner: str
    owner_email: str
    repository: str
    spec_path: str
    spec_sha256: str
    version: str
    today: str
    frameworks: list[str]
    model_counts: list[Counts]
    counts_by_model: dict[str, Counts]
    other_counts: Counts
    framework_counts: list[Counts]
    totals: Counts
    rows: list[RuleRow]
    rows_by_model: dict[str, list[RuleRow]]
    other_rows: list[RuleRow]
    waivers: list[WaiverView]
    high_risk: list[str]
    annex: dict[str, list[AnnexSection]]
    annex_applies: bool
    gdpr: list[RecordOfProcessing]
    models: list[Model] = field(default_factory=list)


def _waiver_view(plan: Plan, waiver: Waiver, *, used: bool) -> WaiverView:
    # Days left count from the documents' date; with none, outputs cannot say (an expired
    # waiver in use has already failed the build).
    if plan.as_of is None:
        state, days = (WaiverState.ACTIVE if used else WaiverState.UNUSED), 0
    else:
        state, days = waiver_state(waiver, plan.as_of, used=used)
    team = plan.teams.get(waiver.approved_by)
    return WaiverView(
        rule=waiver.rule,
        target=waiver.target,
        reason=waiver.reason,
        approved_by=waiver.approved_by,
        approver_email=team.email if team else "",
        expires=waiver.expires.isoformat(),
        days_left=days,
        state=state,
    )


def subject_tables(plan: Plan) -> dict[str, frozenset[str]]:
    """The names of each kind of subject a rule can fire on, by spec section."""
    return {
        "models": frozenset(plan.models_by_name),
        "sources": frozenset(s.name for s in plan.sources),
        "features": frozenset(v.name for v in plan.views),
        "environments": frozenset(e.name for e in plan.environments),
        "slos": frozenset(s.slo.name for s in plan.slos),
    }


def subject_kind(tables: dict[str, frozenset[str]], target: str, section: str) -> str:
    """What a rule fired on: the path's section when it names the target, else a lookup."""
    if section in tables and target in tables[section]:
        return SUBJECT_KINDS[section]
    for name, table in tables.items():
        if target in table:
            return SUBJECT_KINDS[name]
    return "project"


def _row(plan: Plan, tables: dict[str, frozenset[str]], outcome: Outcome) -> RuleRow:
    framework, title, source = plan.governance.rule_info(outcome.rule)
    res = outcome.result
    kind = subject_kind(tables, res.target, str(res.path[0]) if res.path else "")
    waiver = None
    if outcome.waiver is not None:
        waiver = _waiver_view(plan, outcome.waiver, used=True)
    # A passing result's message describes the failure; show what was met instead.
    message = res.message
    if outcome.status is Status.PASS:
        where = ".".join(str(p) for p in res.path[2:] if str(p) != "name")
        message = f"meets: {title}" + (f" ({where})" if where else "")
    return RuleRow(
        rule=outcome.rule,
        framework=framework,
        title=title,
        source=source,
        subject=res.target,
        subject_kind=kind,
        status=outcome.status,
        severity=outcome.severity,
        message=message,
        waiver=waiver,
    )


def _count(label: str, rows: list[RuleRow], *, risk: str = "") -> Counts:
    status = [r.status for r in rows]
    return Counts(
        label,
        risk=risk,
        passed=status.count(Status.PASS),
        failed=status.count(Status.FAIL),
        waived=status.count(Status.WAIVED),
        warnings=status.count(Status.WARNING),
    )


_ORDER = {s: i for i, s in enumerate((Status.FAIL, Status.WARNING, Status.WAIVED, Status.PASS))}


def rule_rows(plan: Plan) -> list[RuleRow]:
    """Every rule result, failures first, then by rule and subject."""
    tables = subject_tables(plan)
    rows = [_row(plan, tables, o) for o in plan.governance.outcomes]
    return sorted(rows, key=lambda r: (_ORDER[r.status], r.rule, r.subject_kind, r.subject))


def rows_by_model(plan: Plan, rows: list[RuleRow]) -> dict[str, list[RuleRow]]:
    """Each model's rule results, in the order of `rows` (one pass over them)."""
    grouped: dict[str, list[RuleRow]] = {m.name: [] for m in plan.models}
    for row in rows:
        if row.subject_kind == "model" and row.subject in grouped:
            grouped[row.subject].append(row)
    return grouped


def waiver_views(plan: Plan) -> list[WaiverView]:
    """Every waiver of the spec, used or not, by expiry."""
    used = {(o.rule, o.result.target) for o in plan.governance.outcomes if o.waiver is not None}
    views = [_waiver_view(plan, w, used=(w.rule, w.target) in used) for w in plan.waivers]
    return sorted(views, key=lambda w: (w.expires, w.rule, w.target))


def records_of_processing(plan: Plan) -> list[RecordOfProcessing]:
    """One GDPR record per source that declares personal data."""
    views_of: dict[str, list[FeatureView]] = {}
    for view in plan.views:
        views_of.setdefault(view.source, []).append(view)
    models_of_view: dict[str, set[str]] = {}
    trained_on: dict[str, set[str]] = {}
    for m in plan.models:
        for ref in plan.model_features.get(m.name, ()):
            models_of_view.setdefault(ref.view, set()).add(m.name)
        if m.training is not None:
            for source_name in m.training.data:
                trained_on.setdefault(source_name, set()).add(m.name)
    records: list[RecordOfProcessing] = []
    for source in plan.sources:
        if not source.pii_columns:
            continue
        views = views_of.get(source.name, [])
        view_names = {v.name for v in views}
        pii = sorted(f"{v.name}:{f.name}" for v in views for f in v.fields if f.pii)
        models: set[str] = set()
        for view_name in view_names:
            models |= models_of_view.get(view_name, set())
        records.append(
            RecordOfProcessing(
                source=source.name,
                kind=source.kind,
                location=plan.source_location(source),
                owner=plan.owner(source.owner).name,
                columns=sorted(source.pii_columns),
                legal_basis=source.legal_basis or "",
                retention=source.retention or "",
                views=sorted(view_names),
                pii_features=pii,
                models=sorted(models),
                trained_by=sorted(trained_on.get(source.name, ())),
            )
        )
    return records


def report_facts(plan: Plan) -> ReportFacts:
    """The compliance report's content."""
    rows = rule_rows(plan)
    by_model = rows_by_model(plan, rows)
    other = [r for r in rows if r.subject_kind != "model"]
    model_counts = [_count(m.name, by_model[m.name], risk=m.risk) for m in plan.models]
    by_framework: dict[str, list[RuleRow]] = {}
    for row in rows:
        by_framework.setdefault(row.framework, []).append(row)
    frameworks: list[str] = [*plan.governance.frameworks]
    if plan.governance.policies:
        frameworks.append(POLICY)
    owner = plan.owner(None)
    high = [m.name for m in plan.models if m.risk == "high"]
    annex_on = Pack.EU_AI_ACT in plan.governance.frameworks
    return ReportFacts(
        project=plan.name,
        description=plan.metadata.description or "",
        owner=owner.name,
        owner_email=owner.email,
        repository=plan.metadata.repository or "",
        spec_path=plan.spec_path,
        spec_sha256=plan.spec_sha256,
        version=plan.version,
        today=plan.as_of.isoformat() if plan.as_of else "",
        frameworks=[FRAMEWORK_NAMES.get(f, f) for f in frameworks],
        model_counts=model_counts,
        counts_by_model={c.label: c for c in model_counts},
        other_rows=other,
        other_counts=_count("data, environments and SLOs", other),
        framework_counts=[
            _count(FRAMEWORK_NAMES.get(f, f), by_framework.get(f, [])) for f in frameworks
        ],
        totals=_count("all rules", rows),
        rows=rows,
        rows_by_model=by_model,
        waivers=waiver_views(plan),
        high_risk=high,
        annex={name: annex_iv(plan, plan.models_by_name[name]) for name in high},
        annex_applies=annex_on,
        gdpr=records_of_processing(plan),
        models=list(plan.models),
    )
