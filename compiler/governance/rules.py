"""Built-in governance rule packs: baseline, eu-ai-act, gdpr.

Each rule's check yields one Finding per subject it applies to, passed or not, so that the
compliance report can show what passed as well as what failed. Rules are registered in one
place, the RULES table at the end, which is the only place a rule id is written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from compiler.load import Path
from compiler.meaning import Index
from compiler.rulekinds import Pack, RuleSeverity
from compiler.spec.models import Model
from compiler.spec.types import image_digest

PACKS: tuple[Pack, ...] = tuple(Pack)


@dataclass(frozen=True)
class Result:
    """The outcome of one rule (or policy) on one subject."""

    rule: str
    target: str
    passed: bool
    message: str
    path: Path


@dataclass(frozen=True)
class Finding:
    """What a rule's check says about one subject; the rule adds its id."""

    target: str
    passed: bool
    message: str
    path: Path


Check = Callable[[Index], Iterator[Finding]]


@dataclass(frozen=True)
class Rule:
    id: str
    pack: Pack
    title: str
    source: str
    rationale: str
    check: Check
    severity: RuleSeverity = RuleSeverity.ERROR

    def results(self, ix: Index) -> Iterator[Result]:
        """The rule's result on every subject it applies to."""
        for f in self.check(ix):
            yield Result(self.id, f.target, f.passed, f.message, f.path)


def _models(ix: Index, *, risk: str | None = None) -> Iterator[tuple[int, Model]]:
    for i, model in enumerate(ix.project.models):
        if risk is None or model.risk == risk:
            yield i, model


# --- baseline ----------------------------------------------------------------------------


def _base_slo(ix: Index) -> Iterator[Finding]:
    covered = {slo.model for slo in ix.project.slos}
    for i, m in _models(ix):
        if m.serving.mode == "realtime":
            ok = m.name in covered
            yield Finding(
                m.name,
                ok,
                f"realtime model '{m.name}' has no SLO",
                ("models", i, "name"),
            )


def _base_digest(ix: Index) -> Iterator[Finding]:
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
            yield Finding(
                m.name,
                ok,
                f"image '{image}' is not pinned by digest (@sha256:...)",
                path,
            )


def _resources(ix: Index, what: str) -> Iterator[Finding]:
    for i, m in _models(ix):
        if what == "training":
            if m.training is None:
                continue
            res, path = m.training.resources, ("models", i, "training")
        else:
            res, path = m.serving.resources, ("models", i, "serving")
        missing = [k for k in ("cpu", "memory") if getattr(res, k) is None]
        yield Finding(
            m.name,
            not missing,
            f"{what} of '{m.name}' declares no {' and no '.join(missing)} in resources",
            (*path, "resources") if path else path,
        )


def _base_serving_resources(ix: Index) -> Iterator[Finding]:
    yield from _resources(ix, "serving")


def _base_training_resources(ix: Index) -> Iterator[Finding]:
    yield from _resources(ix, "training")


def _base_approval(ix: Index) -> Iterator[Finding]:
    envs = ix.project.environments
    last = len(envs) - 1
    env = envs[last]
    yield Finding(
        env.name,
        env.approval.required,
        f"the last environment '{env.name}' does not require approval",
        ("environments", last, "approval"),
    )


# --- EU AI Act (Regulation (EU) 2024/1689) ---------------------------------------------------


def _card(key: str, risk: str) -> Check:
    """The model card of every model of a risk tier fills `key`."""

    def check(ix: Index) -> Iterator[Finding]:
        for i, m in _models(ix, risk=risk):
            ok = bool((getattr(m.card, key) or "").strip())
            yield Finding(
                m.name,
                ok,
                f"{risk}-risk model '{m.name}' has no card.{key}",
                ("models", i, "card", key),
            )

    return check


def _high(test: Callable[[Model], bool], message: str, where: str) -> Check:
    """Every high-risk model passes `test`; `where` is the spec key a failure points at."""

    def check(ix: Index) -> Iterator[Finding]:
        for i, m in _models(ix, risk="high"):
            yield Finding(
                m.name,
                test(m),
                message.format(name=m.name),
                ("models", i, *where.split(".")),
            )

    return check


def _euai_slo(ix: Index) -> Iterator[Finding]:
    covered = {slo.model for slo in ix.project.slos}
    for i, m in _models(ix, risk="high"):
        yield Finding(
            m.name,
            m.name in covered,
            f"high-risk model '{m.name}' has no SLO",
            ("models", i, "name"),
        )


def _euai_approval(ix: Index) -> Iterator[Finding]:
    envs = ix.project.environments
    last = envs[-1]
    ok = last.approval.required and bool(last.approval.reviewers)
    for _, m in _models(ix, risk="high"):
        yield Finding(
            m.name,
            ok,
            f"high-risk model '{m.name}' deploys to '{last.name}' without approval by at least one reviewer",
            ("environments", len(envs) - 1, "approval"),
        )


# --- GDPR (Regulation (EU) 2016/679) --------------------------------------------------------


def _gdpr_basis(ix: Index) -> Iterator[Finding]:
    for i, s in enumerate(ix.project.sources):
        if s.pii_columns:
            yield Finding(
                s.name,
                s.legal_basis is not None,
                f"source '{s.name}' holds personal data but declares no legal_basis",
                ("sources", i, "pii_columns"),
            )


def _gdpr_retention(ix: Index) -> Iterator[Finding]:
    for i, s in enumerate(ix.project.sources):
        if s.pii_columns:
            yield Finding(
                s.name,
                s.retention is not None,
                f"source '{s.name}' holds personal data but declares no retention",
                ("sources", i, "pii_columns"),
            )


def _gdpr_lineage(ix: Index) -> Iterator[Finding]:
    for i, v in enumerate(ix.project.features):
        src = ix.sources.get(v.source)
        for j, f in enumerate(v.fields):
            if f.pii:
                ok = src is not None and bool(src.pii_columns)
                yield Finding(
                    v.name,
                    ok,
                    f"field '{v.name}:{f.name}' is personal data but source '{v.source}' declares no pii_columns",
                    ("features", i, "fields", j, "pii"),
                )


def _gdpr_minimisation(ix: Index) -> Iterator[Finding]:
    for i, m in _models(ix):
        pii = sorted(f.ref for f in ix.model_features.get(m.name, []) if f.pii)
        yield Finding(
            m.name,
            not pii,
            f"model '{m.name}' uses personal data: {', '.join(pii)}; check that it needs each",
            ("models", i, "features"),
        )


# --- the registry: every rule, in report order, each id written once ------------------------

_B, _E, _G = Pack.BASELINE, Pack.EU_AI_ACT, Pack.GDPR
_HIGH_CARD = "high-risk model card has"

RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        Rule(
            "BASE-001",
            _B,
            "every realtime model has at least one SLO",
            "Google SRE book, ch. 4 (Service Level Objectives)",
            "A service without an objective has no alert that says when users are hurt.",
            _base_slo,
        ),
        Rule(
            "BASE-002",
            _B,
            "images are pinned by digest",
            "SLSA v1.0 build integrity; CIS Kubernetes Benchmark 5.5",
            "A tag can be moved to other bytes; only a digest names what was reviewed.",
            _base_digest,
        ),
        Rule(
            "BASE-003",
            _B,
            "serving declares CPU and memory",
            "Kubernetes resource management; CIS Kubernetes Benchmark 5.7",
            "Without requests and limits a pod can starve its neighbours or be evicted first.",
            _base_serving_resources,
        ),
        Rule(
            "BASE-004",
            _B,
            "training declares CPU and memory",
            "Kubernetes resource management",
            "Training jobs without limits can take a node's whole memory.",
            _base_training_resources,
        ),
        Rule(
            "BASE-005",
            _B,
            "the last environment requires approval",
            "Four-eyes principle (change management, SOC 2 CC8.1)",
            "What reaches production should be seen by a second person.",
            _base_approval,
        ),
        Rule(
            "EUAI-001",
            _E,
            f"{_HIGH_CARD} intended_use",
            "EU AI Act Art. 13(3)(b)",
            "Deployers must be told the intended purpose.",
            _card("intended_use", "high"),
        ),
        Rule(
            "EUAI-002",
            _E,
            f"{_HIGH_CARD} limitations",
            "EU AI Act Art. 13(3)(b)",
            "Deployers must be told the known limits of accuracy and use.",
            _card("limitations", "high"),
        ),
        Rule(
            "EUAI-003",
            _E,
            f"{_HIGH_CARD} human_oversight",
            "EU AI Act Art. 14",
            "High-risk systems are designed for effective human oversight.",
            _card("human_oversight", "high"),
        ),
        Rule(
            "EUAI-004",
            _E,
            "high-risk model has evaluation metrics",
            "EU AI Act Art. 15",
            "Accuracy levels and metrics must be declared and met.",
            _high(
                lambda m: bool(m.evaluation and m.evaluation.metrics),
                "high-risk model '{name}' declares no evaluation metrics",
                "evaluation.metrics",
            ),
        ),
        Rule(
            "EUAI-005",
            _E,
            "high-risk model has a fairness check",
            "EU AI Act Art. 10(2)(f)",
            "Data and models are examined for biases that affect people.",
            _high(
                lambda m: bool(m.evaluation and m.evaluation.fairness),
                "high-risk model '{name}' has no evaluation.fairness check",
                "evaluation.fairness",
            ),
        ),
        Rule(
            "EUAI-006",
            _E,
            "high-risk model is explainable",
            "EU AI Act Art. 13(1)",
            "Output must be interpretable by deployers.",
            _high(
                lambda m: m.explainability is not None and m.explainability.method != "none",
                "high-risk model '{name}' has no explainability method",
                "explainability",
            ),
        ),
        Rule(
            "EUAI-007",
            _E,
            "high-risk realtime model logs requests",
            "EU AI Act Art. 12",
            "High-risk systems keep logs of their operation (record-keeping).",
            _high(
                lambda m: m.serving.mode != "realtime" or m.serving.request_logging,
                "high-risk realtime model '{name}' does not set serving.request_logging",
                "serving.request_logging",
            ),
        ),
        Rule(
            "EUAI-008",
            _E,
            "high-risk artifact has a digest",
            "EU AI Act Annex IV §2",
            "The technical documentation identifies exactly which model is deployed.",
            _high(
                lambda m: m.artifact.digest is not None,
                "high-risk model '{name}' has no artifact.digest",
                "artifact.digest",
            ),
        ),
        Rule(
            "EUAI-009",
            _E,
            "high-risk training lists its data sources",
            "EU AI Act Annex IV §2(d)",
            "The documentation describes the training data and its provenance.",
            _high(
                lambda m: m.training is not None and bool(m.training.data),
                "high-risk model '{name}' lists no training.data sources",
                "training.data",
            ),
        ),
        Rule(
            "EUAI-010",
            _E,
            "high-risk model has an SLO",
            "EU AI Act Art. 72",
            "Providers monitor the system's performance after it is placed on the market.",
            _euai_slo,
        ),
        Rule(
            "EUAI-011",
            _E,
            "high-risk model monitors drift",
            "EU AI Act Art. 72",
            "Post-market monitoring detects when data drifts away from training.",
            _high(
                lambda m: m.monitoring.drift is not None,
                "high-risk model '{name}' has no monitoring.drift",
                "monitoring.drift",
            ),
        ),
        Rule(
            "EUAI-012",
            _E,
            "a person approves high-risk deployments",
            "EU AI Act Art. 14(4)",
            "A natural person can decide not to use the system: the last environment needs a reviewer.",
            _euai_approval,
        ),
        Rule(
            "EUAI-013",
            _E,
            "limited-risk model card has intended_use",
            "EU AI Act Art. 50",
            "Limited-risk systems carry transparency obligations towards the people they touch.",
            _card("intended_use", "limited"),
        ),
        Rule(
            "GDPR-001",
            _G,
            "personal data has a legal basis",
            "GDPR Art. 6(1)",
            "Processing personal data is lawful only on one of the six bases.",
            _gdpr_basis,
        ),
        Rule(
            "GDPR-002",
            _G,
            "personal data has a retention period",
            "GDPR Art. 5(1)(e)",
            "Personal data is kept no longer than necessary (storage limitation).",
            _gdpr_retention,
        ),
        Rule(
            "GDPR-003",
            _G,
            "PII features come from sources that declare PII",
            "GDPR Art. 30",
            "The record of processing must know every source of personal data.",
            _gdpr_lineage,
        ),
        Rule(
            "GDPR-004",
            _G,
            "models use personal data sparingly",
            "GDPR Art. 5(1)(c)",
            "Data minimisation: use personal data only where the purpose needs it.",
            _gdpr_minimisation,
            RuleSeverity.WARNING,
        ),
    )
}
