"""Built-in governance rule packs: baseline, eu-ai-act, gdpr.

Each rule yields one Result per subject it applies to, passed or not, so that the compliance
report can show what passed as well as what failed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from compiler.load import Path
from compiler.meaning import Index
from compiler.spec.models import Model
from compiler.spec.types import image_digest


@dataclass(frozen=True)
class Result:
    """The outcome of one rule on one subject."""

    rule: str
    target: str
    passed: bool
    message: str
    path: Path


Check = Callable[[Index], Iterator[Result]]


@dataclass(frozen=True)
class Rule:
    id: str
    pack: str
    severity: str
    title: str
    source: str
    rationale: str
    check: Check


RULES: dict[str, Rule] = {}


def rule(
    rule_id: str, pack: str, title: str, source: str, rationale: str, *, severity: str = "error"
) -> Callable[[Check], Check]:
    def register(check: Check) -> Check:
        RULES[rule_id] = Rule(rule_id, pack, severity, title, source, rationale, check)
        return check

    return register


def _models(ix: Index, *, risk: str | None = None) -> Iterator[tuple[int, Model]]:
    for i, model in enumerate(ix.project.models):
        if risk is None or model.risk == risk:
            yield i, model


def _result(rule_id: str, target: str, ok: bool, message: str, path: Path) -> Result:
    return Result(rule_id, target, ok, message, path)


# --- baseline ----------------------------------------------------------------------------


@rule(
    "BASE-001",
    "baseline",
    "every realtime model has at least one SLO",
    "Google SRE book, ch. 4 (Service Level Objectives)",
    "A service without an objective has no alert that says when users are hurt.",
)
def _base_slo(ix: Index) -> Iterator[Result]:
    covered = {slo.model for slo in ix.project.slos}
    for i, m in _models(ix):
        if m.serving.mode == "realtime":
            ok = m.name in covered
            yield _result(
                "BASE-001",
                m.name,
                ok,
                f"realtime model '{m.name}' has no SLO",
                ("models", i, "name"),
            )


@rule(
    "BASE-002",
    "baseline",
    "images are pinned by digest",
    "SLSA v1.0 build integrity; CIS Kubernetes Benchmark 5.5",
    "A tag can be moved to other bytes; only a digest names what was reviewed.",
)
def _base_digest(ix: Index) -> Iterator[Result]:
    for i, m in _models(ix):
        images: list[tuple[str, Path]] = []
        if m.serving.image:
            images.append((m.serving.image, ("models", i, "serving", "image")))
        for env, override in sorted(m.serving.overrides.items()):
            if override.image:
                images.append((override.image, ("models", i, "serving", "overrides", env, "image")))
        if m.training is not None:
            images.append((m.training.image, ("models", i, "training", "image")))
        drift = m.monitoring.drift
        if drift is not None and drift.image:
            images.append((drift.image, ("models", i, "monitoring", "drift", "image")))
        for image, path in images:
            ok = image_digest(image) is not None
            yield _result(
                "BASE-002",
                m.name,
                ok,
                f"image '{image}' is not pinned by digest (@sha256:...)",
                path,
            )


def _resources(ix: Index, rule_id: str, what: str) -> Iterator[Result]:
    for i, m in _models(ix):
        if what == "training":
            if m.training is None:
                continue
            res, path = m.training.resources, ("models", i, "training")
        else:
            res, path = m.serving.resources, ("models", i, "serving")
        missing = [k for k in ("cpu", "memory") if getattr(res, k) is None]
        yield _result(
            rule_id,
            m.name,
            not missing,
            f"{what} of '{m.name}' declares no {' and no '.join(missing)} in resources",
            (*path, "resources") if path else path,
        )


@rule(
    "BASE-003",
    "baseline",
    "serving declares CPU and memory",
    "Kubernetes resource management; CIS Kubernetes Benchmark 5.7",
    "Without requests and limits a pod can starve its neighbours or be evicted first.",
)
def _base_serving_resources(ix: Index) -> Iterator[Result]:
    yield from _resources(ix, "BASE-003", "serving")


@rule(
    "BASE-004",
    "baseline",
    "training declares CPU and memory",
    "Kubernetes resource management",
    "Training jobs without limits can take a node's whole memory.",
)
def _base_training_resources(ix: Index) -> Iterator[Result]:
    yield from _resources(ix, "BASE-004", "training")


@rule(
    "BASE-005",
    "baseline",
    "the last environment requires approval",
    "Four-eyes principle (change management, SOC 2 CC8.1)",
    "What reaches production should be seen by a second person.",
)
def _base_approval(ix: Index) -> Iterator[Result]:
    envs = ix.project.environments
    last = len(envs) - 1
    env = envs[last]
    yield _result(
        "BASE-005",
        env.name,
        env.approval.required,
        f"the last environment '{env.name}' does not require approval",
        ("environments", last, "approval"),
    )


# --- EU AI Act (Regulation (EU) 2024/1689) ---------------------------------------------------


def _card_rule(rule_id: str, key: str, risk: str) -> Check:
    def check(ix: Index) -> Iterator[Result]:
        for i, m in _models(ix, risk=risk):
            ok = bool((getattr(m.card, key) or "").strip())
            yield _result(
                rule_id,
                m.name,
                ok,
                f"{risk}-risk model '{m.name}' has no card.{key}",
                ("models", i, "card", key),
            )

    return check


_EUAI_CARD = (
    ("EUAI-001", "intended_use", "Art. 13(3)(b)", "Deployers must be told the intended purpose."),
    (
        "EUAI-002",
        "limitations",
        "Art. 13(3)(b)",
        "Deployers must be told the known limits of accuracy and use.",
    ),
    (
        "EUAI-003",
        "human_oversight",
        "Art. 14",
        "High-risk systems are designed for effective human oversight.",
    ),
)
for _id, _key, _art, _why in _EUAI_CARD:
    rule(_id, "eu-ai-act", f"high-risk model card has {_key}", f"EU AI Act {_art}", _why)(
        _card_rule(_id, _key, "high")
    )


def _high(rule_id: str, test: Callable[[Model], bool], message: str, where: str) -> Check:
    def check(ix: Index) -> Iterator[Result]:
        for i, m in _models(ix, risk="high"):
            yield _result(
                rule_id,
                m.name,
                test(m),
                message.format(name=m.name),
                ("models", i, *where.split(".")),
            )

    return check


rule(
    "EUAI-004",
    "eu-ai-act",
    "high-risk model has evaluation metrics",
    "EU AI Act Art. 15",
    "Accuracy levels and metrics must be declared and met.",
)(
    _high(
        "EUAI-004",
        lambda m: bool(m.evaluation and m.evaluation.metrics),
        "high-risk model '{name}' declares no evaluation metrics",
        "evaluation.metrics",
    )
)
rule(
    "EUAI-005",
    "eu-ai-act",
    "high-risk model has a fairness check",
    "EU AI Act Art. 10(2)(f)",
    "Data and models are examined for biases that affect people.",
)(
    _high(
        "EUAI-005",
        lambda m: bool(m.evaluation and m.evaluation.fairness),
        "high-risk model '{name}' has no evaluation.fairness check",
        "evaluation.fairness",
    )
)
rule(
    "EUAI-006",
    "eu-ai-act",
    "high-risk model is explainable",
    "EU AI Act Art. 13(1)",
    "Output must be interpretable by deployers.",
)(
    _high(
        "EUAI-006",
        lambda m: m.explainability is not None and m.explainability.method != "none",
        "high-risk model '{name}' has no explainability method",
        "explainability",
    )
)
rule(
    "EUAI-007",
    "eu-ai-act",
    "high-risk realtime model logs requests",
    "EU AI Act Art. 12",
    "High-risk systems keep logs of their operation (record-keeping).",
)(
    _high(
        "EUAI-007",
        lambda m: m.serving.mode != "realtime" or m.serving.request_logging,
        "high-risk realtime model '{name}' does not set serving.request_logging",
        "serving.request_logging",
    )
)
rule(
    "EUAI-008",
    "eu-ai-act",
    "high-risk artifact has a digest",
    "EU AI Act Annex IV §2",
    "The technical documentation identifies exactly which model is deployed.",
)(
    _high(
        "EUAI-008",
        lambda m: m.artifact.digest is not None,
        "high-risk model '{name}' has no artifact.digest",
        "artifact.digest",
    )
)
rule(
    "EUAI-009",
    "eu-ai-act",
    "high-risk training lists its data sources",
    "EU AI Act Annex IV §2(d)",
    "The documentation describes the training data and its provenance.",
)(
    _high(
        "EUAI-009",
        lambda m: m.training is not None and bool(m.training.data),
        "high-risk model '{name}' lists no training.data sources",
        "training.data",
    )
)


@rule(
    "EUAI-010",
    "eu-ai-act",
    "high-risk model has an SLO",
    "EU AI Act Art. 72",
    "Providers monitor the system's performance after it is placed on the market.",
)
def _euai_slo(ix: Index) -> Iterator[Result]:
    covered = {slo.model for slo in ix.project.slos}
    for i, m in _models(ix, risk="high"):
        yield _result(
            "EUAI-010",
            m.name,
            m.name in covered,
            f"high-risk model '{m.name}' has no SLO",
            ("models", i, "name"),
        )


rule(
    "EUAI-011",
    "eu-ai-act",
    "high-risk model monitors drift",
    "EU AI Act Art. 72",
    "Post-market monitoring detects when data drifts away from training.",
)(
    _high(
        "EUAI-011",
        lambda m: m.monitoring.drift is not None,
        "high-risk model '{name}' has no monitoring.drift",
        "monitoring.drift",
    )
)


@rule(
    "EUAI-012",
    "eu-ai-act",
    "a person approves high-risk deployments",
    "EU AI Act Art. 14(4)",
    "A natural person can decide not to use the system: the last environment needs a reviewer.",
)
def _euai_approval(ix: Index) -> Iterator[Result]:
    envs = ix.project.environments
    last = envs[-1]
    ok = last.approval.required and bool(last.approval.reviewers)
    for _, m in _models(ix, risk="high"):
        yield _result(
            "EUAI-012",
            m.name,
            ok,
            f"high-risk model '{m.name}' deploys to '{last.name}' without approval by at least one reviewer",
            ("environments", len(envs) - 1, "approval"),
        )


rule(
    "EUAI-013",
    "eu-ai-act",
    "limited-risk model card has intended_use",
    "EU AI Act Art. 50",
    "Limited-risk systems carry transparency obligations towards the people they touch.",
)(_card_rule("EUAI-013", "intended_use", "limited"))


# --- GDPR (Regulation (EU) 2016/679) --------------------------------------------------------


@rule(
    "GDPR-001",
    "gdpr",
    "personal data has a legal basis",
    "GDPR Art. 6(1)",
    "Processing personal data is lawful only on one of the six bases.",
)
def _gdpr_basis(ix: Index) -> Iterator[Result]:
    for i, s in enumerate(ix.project.sources):
        if s.pii_columns:
            yield _result(
                "GDPR-001",
                s.name,
                s.legal_basis is not None,
                f"source '{s.name}' holds personal data but declares no legal_basis",
                ("sources", i, "pii_columns"),
            )


@rule(
    "GDPR-002",
    "gdpr",
    "personal data has a retention period",
    "GDPR Art. 5(1)(e)",
    "Personal data is kept no longer than necessary (storage limitation).",
)
def _gdpr_retention(ix: Index) -> Iterator[Result]:
    for i, s in enumerate(ix.project.sources):
        if s.pii_columns:
            yield _result(
                "GDPR-002",
                s.name,
                s.retention is not None,
                f"source '{s.name}' holds personal data but declares no retention",
                ("sources", i, "pii_columns"),
            )


@rule(
    "GDPR-003",
    "gdpr",
    "PII features come from sources that declare PII",
    "GDPR Art. 30",
    "The record of processing must know every source of personal data.",
)
def _gdpr_lineage(ix: Index) -> Iterator[Result]:
    for i, v in enumerate(ix.project.features):
        src = ix.sources.get(v.source)
        for j, f in enumerate(v.fields):
            if f.pii:
                ok = src is not None and bool(src.pii_columns)
                yield _result(
                    "GDPR-003",
                    v.name,
                    ok,
                    f"field '{v.name}:{f.name}' is personal data but source '{v.source}' declares no pii_columns",
                    ("features", i, "fields", j, "pii"),
                )


@rule(
    "GDPR-004",
    "gdpr",
    "models use personal data sparingly",
    "GDPR Art. 5(1)(c)",
    "Data minimisation: use personal data only where the purpose needs it.",
    severity="warning",
)
def _gdpr_minimisation(ix: Index) -> Iterator[Result]:
    for i, m in _models(ix):
        pii = sorted(f.ref for f in ix.model_features.get(m.name, []) if f.pii)
        yield _result(
            "GDPR-004",
            m.name,
            not pii,
            f"model '{m.name}' uses personal data: {', '.join(pii)}; check that it needs each",
            ("models", i, "features"),
        )


PACKS = ("baseline", "eu-ai-act", "gdpr")
