"""The checks of the built-in rules: each yields one Finding per subject it applies to,
passed or not, so that the compliance report shows what passed as well as what failed.
Which rule a check belongs to (its id, pack and severity) is said once, in rules.RULES."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from compiler.load import Path
from compiler.meaning import Index
from compiler.spec.models import Model
from compiler.spec.types import image_digest


@dataclass(frozen=True)
class Finding:
    """What a rule's check says about one subject; the rule adds its id."""

    target: str
    passed: bool
    message: str
    path: Path


Check = Callable[[Index], Iterator[Finding]]


def _models(ix: Index, *, risk: str | None = None) -> Iterator[tuple[int, Model]]:
    for i, model in enumerate(ix.project.models):
        if risk is None or model.risk == risk:
            yield i, model


# --- baseline ----------------------------------------------------------------------------


def base_slo(ix: Index) -> Iterator[Finding]:
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


def base_digest(ix: Index) -> Iterator[Finding]:
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


def base_serving_resources(ix: Index) -> Iterator[Finding]:
    yield from _resources(ix, "serving")


def base_training_resources(ix: Index) -> Iterator[Finding]:
    yield from _resources(ix, "training")


def base_approval(ix: Index) -> Iterator[Finding]:
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


def card(key: str, risk: str) -> Check:
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


def high(test: Callable[[Model], bool], message: str, where: str) -> Check:
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


def euai_slo(ix: Index) -> Iterator[Finding]:
    covered = {slo.model for slo in ix.project.slos}
    for i, m in _models(ix, risk="high"):
        yield Finding(
            m.name,
            m.name in covered,
            f"high-risk model '{m.name}' has no SLO",
            ("models", i, "name"),
        )


def euai_approval(ix: Index) -> Iterator[Finding]:
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


def gdpr_basis(ix: Index) -> Iterator[Finding]:
    for i, s in enumerate(ix.project.sources):
        if s.pii_columns:
            yield Finding(
                s.name,
                s.legal_basis is not None,
                f"source '{s.name}' holds personal data but declares no legal_basis",
                ("sources", i, "pii_columns"),
            )


def gdpr_retention(ix: Index) -> Iterator[Finding]:
    for i, s in enumerate(ix.project.sources):
        if s.pii_columns:
            yield Finding(
                s.name,
                s.retention is not None,
                f"source '{s.name}' holds personal data but declares no retention",
                ("sources", i, "pii_columns"),
            )


def gdpr_lineage(ix: Index) -> Iterator[Finding]:
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


def gdpr_minimisation(ix: Index) -> Iterator[Finding]:
    for i, m in _models(ix):
        pii = sorted(f.ref for f in ix.model_features.get(m.name, []) if f.pii)
        yield Finding(
            m.name,
            not pii,
            f"model '{m.name}' uses personal data: {', '.join(pii)}; check that it needs each",
            ("models", i, "features"),
        )
