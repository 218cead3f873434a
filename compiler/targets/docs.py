"""Docs target: model cards and the compliance report (Markdown and self-contained HTML).

Values are computed here and in compiler.targets.report; the jinja2 templates (the top-level
templates/ folder) only loop and branch. Markdown gets every spec string through one
filter of compiler.render.markdown (`md`, `code`, `comment`); HTML is autoescaped.
"""

from __future__ import annotations

from dataclasses import dataclass

from compiler.artifact import Artifact
from compiler.history import NO_HISTORY, History
from compiler.plan import EnvPlan, Model, Plan, Slo
from compiler.render.markdown import environment
from compiler.targets.base import ModuleTarget
from compiler.targets.report import Counts, ReportFacts, RuleRow, report_facts

NAME = "docs"


@dataclass(frozen=True)
class Narrative:
    """A card section people write; `key` tells them where, when it is missing."""

    title: str
    key: str
    text: str


@dataclass(frozen=True)
class EnvServing:
    env: str
    namespace: str
    mode: str
    runtime: str
    image: str
    replicas: str
    rollout: str
    request_logging: bool
    approval: str


@dataclass(frozen=True)
class SloRow:
    name: str
    objective: str
    window: str
    indicator: str
    alerting: str


@dataclass(frozen=True)
class FeatureRow:
    ref: str
    dtype: str
    pii: bool
    source: str


@dataclass(frozen=True)
class SourceRow:
    name: str
    kind: str
    location: str
    owner: str
    pii: str
    legal_basis: str
    retention: str


@dataclass(frozen=True)
class ModelCard:
    """Every fact of one model card."""

    name: str
    version: str
    description: str
    owner: str
    owner_email: str
    framework: str
    risk: str
    artifact_uri: str
    artifact_digest: str
    registry: list[tuple[str, str]]  # the lock's facts of a registry-named artifact
    intended: list[Narrative]
    concerns: list[Narrative]
    data_narrative: list[Narrative]
    protected_attributes: list[str]
    fairness: str
    pii_features: list[str]
    metrics: list[tuple[str, str]]
    features: list[FeatureRow]
    training: list[tuple[str, str]]
    training_sources: list[SourceRow]
    serving: list[EnvServing]
    explainability: str
    drift: str
    slos: list[SloRow]
    rules: list[RuleRow]
    counts: Counts


def _gate(lo: float | None, hi: float | None) -> str:
    parts = [
        f"at least {lo:g}" if lo is not None else "",
        f"at most {hi:g}" if hi is not None else "",
    ]
    return " and ".join(p for p in parts if p)


def _narratives(m: Model, keys: list[tuple[str, str]]) -> list[Narrative]:
    return [Narrative(title, key, (getattr(m.card, key) or "").strip()) for title, key in keys]


def _sli(slo: Slo) -> str:
    sli = slo.sli
    if sli.latency:
        return f"latency: requests faster than {sli.latency.threshold}"
    if sli.drift:
        return f"drift of {sli.drift.feature} under {sli.drift.threshold:g}"
    if sli.freshness:
        return f"freshness: trained within {sli.freshness.max_age}"
    if sli.events:
        return "events: the project's own good/total queries"
    return "availability: requests answered without a server error"


def _approval(ep: EnvPlan) -> str:
    if not ep.needs_approval:
        return "not required"
    return f"required: {', '.join(ep.env.approval.reviewers) or 'any reviewer'}"


def _serving(plan: Plan, model: str) -> list[EnvServing]:
    rows = []
    for ep, mp in plan.deployments[model]:
        s = mp.serving
        rollout: str = s.rollout.strategy
        if s.rollout.strategy == "canary" and s.rollout.canary_percent:
            rollout = f"canary, {s.rollout.canary_percent}% of traffic"
        replicas = (
            f"{s.autoscaling.min_replicas}-{s.autoscaling.max_replicas}"
            if s.mode == "realtime"
            else f"scheduled {s.schedule}"
        )
        rows.append(
            EnvServing(
                env=ep.name,
                namespace=ep.namespace,
                mode=s.mode,
                runtime=s.runtime if s.mode == "realtime" else "CronJob",
                image=s.image or "runtime default",
                replicas=replicas,
                rollout=rollout,
                request_logging=s.request_logging,
                approval=_approval(ep),
            )
        )
    return rows


def model_card(plan: Plan, facts: ReportFacts, m: Model) -> ModelCard:
    """The facts of one model's card."""
    owner = plan.owner(m.owner)
    ev = m.evaluation
    fair = ev.fairness if ev else None
    refs = plan.model_features.get(m.name, ())
    views, sources = plan.view_by_name, plan.source_by_name
    training: list[tuple[str, str]] = []
    training_sources: list[SourceRow] = []
    if m.training is not None:
        t = m.training
        training = [
            ("image", t.image),
            ("command", " ".join(t.command) or "the image's default"),
            ("schedule", t.schedule or "manual only"),
        ]
        training += [(f"param {k}", str(v)) for k, v in sorted(t.params.items())]
        for name in t.data:
            s = sources[name]
            training_sources.append(
                SourceRow(
                    name=s.name,
                    kind=s.kind,
                    location=plan.source_location(s),
                    owner=plan.owner(s.owner).name,
                    pii=", ".join(s.pii_columns) or "none declared",
                    legal_basis=s.legal_basis or "-",
                    retention=s.retention or "-",
                )
            )
    drift = m.monitoring.drift
    return ModelCard(
        name=m.name,
        version=m.version,
        description=(m.description or "").strip(),
        owner=owner.name,
        owner_email=owner.email,
        framework=m.framework,
        risk=m.risk,
        artifact_uri=m.artifact.uri,
        artifact_digest=m.artifact.digest or "",
        registry=plan.registry_facts(m),
        intended=_narratives(
            m, [("Intended use", "intended_use"), ("Out-of-scope use", "out_of_scope_use")]
        ),
        concerns=_narratives(
            m,
            [
                ("Ethical considerations", "ethical_considerations"),
                ("Limitations", "limitations"),
                ("Human oversight", "human_oversight"),
                ("Caveats and recommendations", "caveats"),
            ],
        ),
        data_narrative=_narratives(
            m, [("Training data", "training_data"), ("Evaluation data", "evaluation_data")]
        ),
        protected_attributes=list(fair.protected_attributes) if fair else [],
        fairness=f"{fair.metric} at most {fair.max:g}" if fair else "",
        pii_features=sorted(r.ref for r in refs if r.pii),
        metrics=[(k, _gate(g.min, g.max)) for k, g in sorted(ev.metrics.items())] if ev else [],
        features=[FeatureRow(r.ref, r.dtype, r.pii, views[r.view].source) for r in refs],
        training=training,
        training_sources=training_sources,
        serving=_serving(plan, m.name),
        explainability=m.explainability.method if m.explainability else "",
        drift=(
            f"{drift.metric} above {drift.threshold:g} on {', '.join(drift.features)}, checked on schedule {drift.schedule}"
            if drift
            else ""
        ),
        slos=[
            SloRow(
                name=s.slo.name,
                objective=f"{s.slo.objective:g}%",
                window=s.slo.window,
                indicator=_sli(s.slo),
                alerting=", ".join(
                    k for k in ("page", "ticket") if getattr(s.slo.alerting, k).enabled
                )
                or "none",
            )
            for s in plan.slos_by_model[m.name]
        ],
        rules=facts.rows_by_model[m.name],
        counts=facts.counts_by_model[m.name],
    )


def render_documents(plan: Plan, *, history: History = NO_HISTORY) -> list[Artifact]:
    """Model cards and both compliance reports."""
    from compiler.targets.lineage import lineage, mermaid, svg

    env = environment()
    facts = report_facts(plan)
    cards = [model_card(plan, facts, m) for m in plan.models]
    graph = lineage(plan)
    context = {
        "facts": facts,
        "cards": cards,
        "history": history,
        "mermaid": mermaid(graph),
        "header": " ".join(line.strip() for line in plan.header("").splitlines()),
    }
    out = [
        Artifact(
            f"docs/model-cards/{card.name}.md",
            env.get_template("model-card.md.j2")
            .render(card=card, facts=facts, header=context["header"])
            .encode(),
        )
        for card in cards
    ]
    out.append(
        Artifact(
            "docs/compliance-report.md",
            env.get_template("compliance-report.md.j2").render(**context).encode(),
        )
    )
    from markupsafe import Markup

    html = env.get_template("compliance-report.html.j2").render(**context, svg=Markup(svg(graph)))
    out.append(Artifact("docs/compliance-report.html", html.encode()))
    return out


def render(plan: Plan) -> list[Artifact]:
    """The docs target of `build`: no git history, so the output depends on the spec alone."""
    return render_documents(plan)


TARGET = ModuleTarget(NAME, render)
