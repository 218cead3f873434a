"""Built-in governance rule packs: baseline, eu-ai-act, gdpr.

Rules are registered in one place, the RULES table below, which is the only place a rule id
is written; their checks are in compiler.governance.checks.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from compiler.governance import checks
from compiler.governance.checks import Check
from compiler.load import Path
from compiler.meaning import Index
from compiler.rulekinds import Pack, RuleSeverity

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
            checks.base_slo,
        ),
        Rule(
            "BASE-002",
            _B,
            "images are pinned by digest",
            "SLSA v1.0 build integrity; CIS Kubernetes Benchmark 5.5",
            "A tag can be moved to other bytes; only a digest names what was reviewed.",
            checks.base_digest,
        ),
        Rule(
            "BASE-003",
            _B,
            "serving declares CPU and memory",
            "Kubernetes resource management; CIS Kubernetes Benchmark 5.7",
            "Without requests and limits a pod can starve its neighbours or be evicted first.",
            checks.base_serving_resources,
        ),
        Rule(
            "BASE-004",
            _B,
            "training declares CPU and memory",
            "Kubernetes resource management",
            "Training jobs without limits can take a node's whole memory.",
            checks.base_training_resources,
        ),
        Rule(
            "BASE-005",
            _B,
            "the last environment requires approval",
            "Four-eyes principle (change management, SOC 2 CC8.1)",
            "What reaches production should be seen by a second person.",
            checks.base_approval,
        ),
        Rule(
            "EUAI-001",
            _E,
            f"{_HIGH_CARD} intended_use",
            "EU AI Act Art. 13(3)(b)",
            "Deployers must be told the intended purpose.",
            checks.card("intended_use", "high"),
        ),
        Rule(
            "EUAI-002",
            _E,
            f"{_HIGH_CARD} limitations",
            "EU AI Act Art. 13(3)(b)",
            "Deployers must be told the known limits of accuracy and use.",
            checks.card("limitations", "high"),
        ),
        Rule(
            "EUAI-003",
            _E,
            f"{_HIGH_CARD} human_oversight",
            "EU AI Act Art. 14",
            "High-risk systems are designed for effective human oversight.",
            checks.card("human_oversight", "high"),
        ),
        Rule(
            "EUAI-004",
            _E,
            "high-risk model has evaluation metrics",
            "EU AI Act Art. 15",
            "Accuracy levels and metrics must be declared and met.",
            checks.high(
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
            checks.high(
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
            checks.high(
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
            checks.high(
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
            checks.high(
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
            checks.high(
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
            checks.euai_slo,
        ),
        Rule(
            "EUAI-011",
            _E,
            "high-risk model monitors drift",
            "EU AI Act Art. 72",
            "Post-market monitoring detects when data drifts away from training.",
            checks.high(
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
            checks.euai_approval,
        ),
        Rule(
            "EUAI-013",
            _E,
            "limited-risk model card has intended_use",
            "EU AI Act Art. 50",
            "Limited-risk systems carry transparency obligations towards the people they touch.",
            checks.card("intended_use", "limited"),
        ),
        Rule(
            "GDPR-001",
            _G,
            "personal data has a legal basis",
            "GDPR Art. 6(1)",
            "Processing personal data is lawful only on one of the six bases.",
            checks.gdpr_basis,
        ),
        Rule(
            "GDPR-002",
            _G,
            "personal data has a retention period",
            "GDPR Art. 5(1)(e)",
            "Personal data is kept no longer than necessary (storage limitation).",
            checks.gdpr_retention,
        ),
        Rule(
            "GDPR-003",
            _G,
            "PII features come from sources that declare PII",
            "GDPR Art. 30",
            "The record of processing must know every source of personal data.",
            checks.gdpr_lineage,
        ),
        Rule(
            "GDPR-004",
            _G,
            "models use personal data sparingly",
            "GDPR Art. 5(1)(c)",
            "Data minimisation: use personal data only where the purpose needs it.",
            checks.gdpr_minimisation,
            RuleSeverity.WARNING,
        ),
    )
}
