"""EU AI Act Annex IV (technical documentation) checklist of one high-risk model.

Each of the nine sections lists what the spec provides (facts mlopsc can vouch for) and what
stays open because only people can supply it (a risk management system, a declaration of
conformity, ...). Nothing here is invented: an item is "provided" only when the spec holds it.
"""

from __future__ import annotations

from dataclasses import dataclass

from compiler.plan import Model, Plan


@dataclass(frozen=True)
class AnnexSection:
    """One of the nine sections of EU AI Act Annex IV for one model."""

    number: int
    title: str
    provided: list[str]
    open: list[str]

    @property
    def status(self) -> str:
        if not self.open:
            return "provided"
        return "partly provided" if self.provided else "open"


TITLES = (
    "General description of the AI system",
    "Detailed description of the elements of the AI system and of its development process",
    "Monitoring, functioning and control of the AI system",
    "Appropriateness of the performance metrics",
    "Risk management system (Art. 9)",
    "Relevant changes made through the lifecycle",
    "Harmonised standards or other solutions applied",
    "Copy of the EU declaration of conformity (Art. 47)",
    "Post-market monitoring system and plan (Art. 72)",
)


def _general(plan: Plan, m: Model) -> tuple[list[str], list[str]]:
    provided = [f"name {m.name}, version {m.version}, framework {m.framework}"]
    provided.append(f"provider team {plan.owner(m.owner).name} <{plan.owner(m.owner).email}>")
    if m.card.intended_use:
        provided.append(f"intended purpose: {m.card.intended_use}")
    if m.description:
        provided.append(f"description: {m.description}")
    provided.append(
        f"artifact {m.artifact.uri}" + (f" ({m.artifact.digest})" if m.artifact.digest else "")
    )
    facts = dict(plan.registry_facts(m))
    if facts:
        provided.append(
            f"{facts['Registry']} version {facts['Registry version']}"
            + (f", digest {facts['Registry digest']}" if "Registry digest" in facts else "")
        )
    trained_on = [
        f"{name} ({plan.data_hashes[name]})"
        for name in sorted(set(m.training.data if m.training else ()))
        if name in plan.data_hashes
    ]
    if trained_on:  # Annex IV 2(d): which data trained the model
        provided.append("training data versions (DVC): " + ", ".join(trained_on))
    envs = ", ".join(f"{e.name} ({e.namespace})" for e in plan.environments)
    provided.append(f"deployed as {m.serving.mode} serving to: {envs}")
    open_items = [
        "instructions for use for deployers (Art. 13)",
        "hardware and interaction with other systems, user interface description",
    ]
    if not m.card.intended_use:
        open_items.insert(0, "intended purpose (card.intended_use is empty)")
    return provided, open_items


def _development(plan: Plan, m: Model) -> tuple[list[str], list[str]]:
    provided: list[str] = []
    open_items = ["design choices, model architecture and optimisation rationale"]
    if m.training is not None:
        provided.append(f"training image {m.training.image}")
        if m.training.data:
            provided.append("training data sources: " + ", ".join(m.training.data))
        else:
            open_items.append("training data sources (training.data is empty)")
        if m.training.params:
            params = ", ".join(f"{k}={v}" for k, v in sorted(m.training.params.items()))
            provided.append(f"hyper-parameters: {params}")
        provided.append(
            f"retraining schedule {m.training.schedule}"
            if m.training.schedule
            else "manual retraining only"
        )
    else:
        open_items.append("how the model is trained (no training section in the spec)")
    feats = [f.ref for f in plan.model_features.get(m.name, ())]
    if feats:
        provided.append("input features: " + ", ".join(feats))
    if m.card.training_data:
        provided.append(f"training data narrative: {m.card.training_data}")
    else:
        open_items.append(
            "datasheet of the training data: provenance, scope, labelling, cleaning (Art. 10)"
        )
    if m.evaluation and m.evaluation.metrics:
        provided.append("validation gates: " + ", ".join(sorted(m.evaluation.metrics)))
    open_items.append("validation and testing reports with their results, dated and signed")
    open_items.append("cybersecurity measures (Art. 15) beyond the generated cluster policies")
    return provided, open_items


def _control(plan: Plan, m: Model) -> tuple[list[str], list[str]]:
    provided: list[str] = []
    open_items: list[str] = []
    for key, label in (("limitations", "limitations"), ("human_oversight", "human oversight")):
        text = getattr(m.card, key)
        if text:
            provided.append(f"{label}: {text}")
        else:
            open_items.append(f"{label} (card.{key} is empty)")
    fair = m.evaluation.fairness if m.evaluation else None
    if fair:
        provided.append(
            f"fairness gate {fair.metric} <= {fair.max:g} over "
            + ", ".join(fair.protected_attributes)
        )
    else:
        open_items.append(
            "accuracy for the groups of persons the system is used on (no fairness gate)"
        )
    if m.explainability and m.explainability.method != "none":
        provided.append(f"explanations by {m.explainability.method}")
    approvers = [
        f"{e.name}: " + ", ".join(e.env.approval.reviewers)
        for e in plan.environments
        if e.needs_approval and e.env.approval.reviewers
    ]
    if approvers:
        provided.append("deployment approval by " + "; ".join(approvers))
    open_items.append(
        "foreseeable unintended outcomes and sources of risk to health, safety and rights"
    )
    return provided, open_items


def _metrics(m: Model) -> tuple[list[str], list[str]]:
    provided: list[str] = []
    if m.evaluation:
        for name, gate in sorted(m.evaluation.metrics.items()):
            bounds = [
                f">= {gate.min:g}" if gate.min is not None else "",
                f"<= {gate.max:g}" if gate.max is not None else "",
            ]
            provided.append(f"{name} " + " and ".join(b for b in bounds if b))
    open_items = ["why these metrics and thresholds are appropriate for the intended purpose"]
    if not provided:
        open_items.insert(0, "performance metrics (evaluation.metrics is empty)")
    return provided, open_items


def _lifecycle(plan: Plan, m: Model) -> tuple[list[str], list[str]]:
    provided = [f"current version {m.version}; spec sha256 {plan.spec_sha256}"]
    return provided, ["description of the relevant changes between versions (change log)"]


def _post_market(plan: Plan, m: Model) -> tuple[list[str], list[str]]:
    provided: list[str] = []
    drift = m.monitoring.drift
    if drift:
        provided.append(
            f"drift monitoring ({drift.metric} > {drift.threshold:g}, schedule {drift.schedule}) of "
            + ", ".join(drift.features)
        )
    slos = [s.slo for s in plan.slos_by_model[m.name]]
    for slo in slos:
        provided.append(f"SLO {slo.name}: {slo.objective:g}% {slo.sli.kind} over {slo.window}")
    if m.serving.request_logging:
        provided.append("request logging of predictions (Art. 12 record-keeping)")
    open_items = [
        "the post-market monitoring plan document (Art. 72(3)) and serious-incident reporting (Art. 73)"
    ]
    if not drift:
        open_items.append("drift monitoring (monitoring.drift is not set)")
    if not slos:
        open_items.append("service level objectives (no SLO names this model)")
    return provided, open_items


def annex_iv(plan: Plan, m: Model) -> list[AnnexSection]:
    """The nine Annex IV sections for one model, split into provided and open items."""
    parts: list[tuple[list[str], list[str]]] = [
        _general(plan, m),
        _development(plan, m),
        _control(plan, m),
        _metrics(m),
        (
            [f"risk tier {m.risk}; governance rule results in this report"],
            [
                "the risk management system: identified risks, estimation, mitigation and residual risk (Art. 9)"
            ],
        ),
        _lifecycle(plan, m),
        (
            [],
            [
                "list of harmonised standards applied, or the solutions adopted for Chapter III Section 2"
            ],
        ),
        ([], ["copy of the signed EU declaration of conformity"]),
        _post_market(plan, m),
    ]
    return [
        AnnexSection(number=i + 1, title=TITLES[i], provided=provided, open=open_items)
        for i, (provided, open_items) in enumerate(parts)
    ]
