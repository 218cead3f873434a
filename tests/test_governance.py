"""compiler/governance: rule packs pass and fail, waivers, CEL policies."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import BASE, D1, check_text, edit, only

from compiler import diagnostics as dx
from compiler.diagnostics import Severity
from compiler.governance.rules import PACKS, RULES


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


HIGH = edit(
    BASE,
    (
        "    framework: sklearn\n",
        "    framework: sklearn\n    risk: high\n    card: {intended_use: a, limitations: b, human_oversight: c}\n"
        "    evaluation:\n      metrics: {ndcg: {min: 0.3}}\n"
        "      fairness: {protected_attributes: [age_band], metric: dpd, max: 0.1}\n"
        "    explainability: {method: shap}\n"
        "    monitoring: {drift: {features: [customer_stats:order_count_30d], threshold: 0.2,\n"
        "      reference: s3://acme/ref/, current: s3://acme/cur/}}\n",
    ),
    ("recommender/1.0.0/}", f"recommender/1.0.0/, digest: {D1}}}"),
    ("      mode: realtime\n", "      mode: realtime\n      request_logging: true\n"),
    (
        "    path: s3://shop/orders/\n",
        "    path: s3://shop/orders/\n    pii_columns: [email]\n    retention: 400d\n    legal_basis: contract\n",
    ),
    ("  frameworks: [baseline]", "  frameworks: [baseline, eu-ai-act, gdpr]"),
)

# For each rule: an edit of HIGH that makes exactly that rule fail.
BREAKS: dict[str, tuple[str, str]] = {
    "BASE-002": (f"ghcr.io/shop/train@{D1}", "ghcr.io/shop/train:1.0"),
    "BASE-003": ("      resources: {cpu: 500m, memory: 1Gi}\n", "      resources: {cpu: 500m}\n"),
    "BASE-004": ('      resources: {cpu: "1", memory: 2Gi}\n', ""),
    "BASE-005": (
        "approval: {required: true, reviewers: [ml]}",
        "approval: {required: false, reviewers: [ml]}",
    ),
    "EUAI-001": ("intended_use: a, ", ""),
    "EUAI-002": ("limitations: b, ", ""),
    "EUAI-003": (", human_oversight: c", ""),
    "EUAI-004": ("      metrics: {ndcg: {min: 0.3}}\n", ""),
    "EUAI-005": ("      fairness: {protected_attributes: [age_band], metric: dpd, max: 0.1}\n", ""),
    "EUAI-006": ("{method: shap}", "{method: none}"),
    "EUAI-007": ("      request_logging: true\n", ""),
    "EUAI-008": (f", digest: {D1}", ""),
    "EUAI-009": ("      data: [orders]\n", ""),
    "EUAI-011": (
        "    monitoring: {drift: {features: [customer_stats:order_count_30d], threshold: 0.2,\n"
        "      reference: s3://acme/ref/, current: s3://acme/cur/}}\n",
        "",
    ),
    "EUAI-012": ("reviewers: [ml]}", "reviewers: []}"),
    "GDPR-001": ("    legal_basis: contract\n", ""),
    "GDPR-002": ("    retention: 400d\n", ""),
    "GDPR-003": ("    pii_columns: [email]\n    retention: 400d\n    legal_basis: contract\n", ""),
    "GDPR-004": (
        "      - {name: order_count_30d, dtype: int64}",
        "      - {name: order_count_30d, dtype: int64, pii: true}",
    ),
}
SLO = "slos:\n  - name: recommender-availability\n    model: recommender\n    objective: 99.5\n    sli:\n      availability: {}\n"


def rule_codes(text: str, tmp_path: Path) -> set[str]:
    _, sink = check_text(tmp_path, text)
    return {d.code for d in sink.items}


def test_high_risk_spec_passes_every_rule(tmp_path: Path) -> None:
    checked, sink = check_text(tmp_path, HIGH)
    assert sink.items == [] and checked is not None
    outcomes = checked.governance.outcomes
    # every rule that has a subject here ran (no limited-risk model, no PII field)
    assert {o.rule for o in outcomes} == set(RULES) - {"EUAI-013", "GDPR-003"}
    assert all(o.status == "pass" for o in outcomes)
    assert checked.governance.frameworks == list(PACKS)


ALSO = {"BASE-005": {"EUAI-012"}}  # no approval at all also means no reviewer


def test_no_slo_fails_base_001_and_euai_010(tmp_path: Path) -> None:
    assert SLO in HIGH
    assert rule_codes(HIGH.replace(SLO, "slos: []\n"), tmp_path) == {"BASE-001", "EUAI-010"}


@pytest.mark.parametrize("rule_id", sorted(BREAKS))
def test_each_rule_fails_alone(tmp_path: Path, rule_id: str) -> None:
    old, new = BREAKS[rule_id]
    text = edit(HIGH, (old, new))
    if rule_id == "GDPR-003":
        text = edit(
            text,
            (
                "      - {name: basket_avg_30d, dtype: float64}",
                "      - {name: basket_avg_30d, dtype: float64, pii: true}",
            ),
        )
    found = rule_codes(text, tmp_path)
    assert found == {rule_id} | ALSO.get(rule_id, set())


def test_limited_risk_card(tmp_path: Path) -> None:
    text = edit(
        BASE,
        ("    framework: sklearn\n", "    framework: sklearn\n    risk: limited\n"),
        ("  frameworks: [baseline]", "  frameworks: [eu-ai-act]"),
    )
    assert rule_codes(text, tmp_path) == {"EUAI-013"}
    fixed = edit(
        text,
        ("    risk: limited\n", "    risk: limited\n    card: {intended_use: Suggest products}\n"),
    )
    assert rule_codes(fixed, tmp_path) == set()


def test_rules_of_disabled_packs_do_not_run(tmp_path: Path) -> None:
    text = edit(
        HIGH,
        ("  frameworks: [baseline, eu-ai-act, gdpr]", "  frameworks: [baseline]"),
        ("{method: shap}", "{method: none}"),
    )
    checked, sink = check_text(tmp_path, text)
    assert checked is not None and sink.items == []
    assert {o.result.rule[:4] for o in checked.governance.outcomes} == {"BASE"}


WAIVE = "  waivers:\n    - {{rule: {rule}, target: {target}, reason: ok, approved_by: ml, expires: {date}}}\n"


def waived(rule: str, target: str, date: str) -> str:
    text = edit(BASE, ("      resources: {cpu: 500m, memory: 1Gi}\n", ""))
    return edit(
        text,
        (
            "  frameworks: [baseline]\n",
            "  frameworks: [baseline]\n" + WAIVE.format(rule=rule, target=target, date=date),
        ),
    )


def test_active_waiver_turns_the_error_into_a_note(tmp_path: Path) -> None:
    checked, sink = check_text(
        tmp_path, waived("BASE-003", "recommender", "2027-01-01")
    )  # expires today: still valid
    assert checked is not None
    d = only(sink, "BASE-003")
    assert d.severity is Severity.NOTE and "waived by ml until 2027-01-01: ok" in d.message
    [outcome] = [o for o in checked.governance.outcomes if o.rule == "BASE-003"]
    assert outcome.status == "waived" and outcome.waiver is not None


def test_expired_waiver_is_an_error_that_says_so(tmp_path: Path) -> None:
    checked, sink = check_text(tmp_path, waived("BASE-003", "recommender", "2026-12-31"))
    assert checked is None
    d = only(sink, "BASE-003")
    assert d.severity is Severity.ERROR and "its waiver expired on 2026-12-31" in d.message


def test_unused_waiver_warns(tmp_path: Path) -> None:
    checked, sink = check_text(tmp_path, waived("BASE-002", "recommender", "2027-06-01"))
    assert checked is None  # the waiver is for another rule: BASE-003 still fails
    d = only(sink, dx.WAIVER_UNUSED)
    assert d.severity is Severity.WARNING
    assert sum(x.code == "BASE-003" for x in sink.items) == 1  # the real failure is untouched


def test_waiver_names_are_checked(tmp_path: Path) -> None:
    _, sink = check_text(tmp_path, waived("BASE-3", "recomender", "2027-06-01"))
    assert only(sink, dx.UNKNOWN_RULE).hint == "did you mean 'BASE-003'?"
    assert only(sink, dx.WAIVER_TARGET).hint == "did you mean 'recommender'?"


POLICY = '  policies:\n    - id: {id}\n      description: {desc}\n      applies_to: {kind}\n      when: "{when}"\n      require: "{req}"\n      severity: {sev}\n'


def policy(
    tmp_path: Path, kind: str, req: str, *, when: str = "true", sev: str = "error"
) -> list[tuple[str, str, int, int, str]]:
    text = edit(
        BASE,
        (
            "  frameworks: [baseline]\n",
            "  frameworks: [baseline]\n"
            + POLICY.format(id="p1", desc="A rule", kind=kind, when=when, req=req, sev=sev),
        ),
    )
    _, sink = check_text(tmp_path, text)
    return [
        (d.code, d.severity.value, d.span.line, d.span.column, d.message) for d in sink.sorted()
    ]


@pytest.mark.parametrize(
    ("kind", "req", "ok"),
    [
        ("model", "model.serving.mode == 'realtime'", True),
        ("model", "model.owner == 'ml'", True),  # owner defaults to metadata.owner
        ("model", "model.version.startsWith('2.')", False),
        ("feature", "size(feature.fields) >= 2", True),
        ("source", "source.kind == 'bigquery'", False),
        ("slo", "slo.objective >= 99.0", True),
        ("slo", "slo.objective > 99.9", False),
    ],
)
def test_policy_outcomes(tmp_path: Path, kind: str, req: str, ok: bool) -> None:
    found = policy(tmp_path, kind, req)
    assert [c for c, *_ in found] == ([] if ok else ["p1"])


def test_policy_when_selects(tmp_path: Path) -> None:
    assert policy(tmp_path, "model", "false", when="model.risk == 'high'") == []


def test_policy_warning_severity(tmp_path: Path) -> None:
    [(code, severity, *_)] = policy(tmp_path, "source", "false", sev="warning")
    assert (code, severity) == ("p1", "warning")


def test_policy_compile_error_has_a_column(tmp_path: Path) -> None:
    [(code, _, line, column, message)] = policy(tmp_path, "model", "model.risk ==")
    assert code == dx.POLICY_SYNTAX and (line, column) == (57, 16)
    assert message.startswith("policy 'p1' require at column 14: ")


def test_policy_type_error(tmp_path: Path) -> None:
    [(code, *_, message)] = policy(tmp_path, "model", "model.version.size()")
    assert code == dx.POLICY_SYNTAX
    assert message == "policy 'p1' require: the expression gives int, not a boolean"


def test_policy_eval_error(tmp_path: Path) -> None:
    [(code, _, line, _, message)] = policy(tmp_path, "model", "model.training.params.lr == 1")
    assert code == dx.POLICY_EVAL and line == 57
    assert message == "policy 'p1' failed on model 'recommender': no key 'lr'"


@pytest.mark.parametrize(
    ("kind", "req", "column", "message"),
    [
        ("model", "model.risks == 'high'", 7, "model has no field 'risks'; did you mean 'risk'?"),
        (
            "model",
            "has(model.serving.rolout) && true",
            19,
            "model.serving has no field 'rolout'; did you mean 'rollout'?",
        ),
        ("slo", "slo.sli.latency.treshold == '1s'", 17, "slo.sli.latency has no field 'treshold'"),
        ("feature", "feature.field.size() > 0", 9, "feature has no field 'field'"),
        ("source", "source.pii == []", 8, "source has no field 'pii'"),
    ],
)
def test_a_field_the_spec_lacks_fails_at_compile_time(
    tmp_path: Path, kind: str, req: str, column: int, message: str
) -> None:
    # every object would have to reach the typo for the runtime to find it; the check does not
    [(code, _, line, col, text)] = policy(tmp_path, kind, req)
    assert (code, line, col) == (dx.POLICY_SYNTAX, 57, 16)
    assert text.startswith(f"policy 'p1' require at column {column}: {message}")


@pytest.mark.parametrize(
    "req",
    [
        "'model.risks' != model.name",  # inside a string literal
        "model.training.params.anything == 1 || true",  # a map: keys are the spec's data
        "model.features.all(f, f.size() > 0)",  # past a list, CEL's own methods
        "model.serving.rollout.strategy in ['canary', 'rolling']",
    ],
)
def test_selections_the_spec_has_compile(tmp_path: Path, req: str) -> None:
    assert policy(tmp_path, "model", req) == []


def test_the_evaluation_budget_is_a_located_error(tmp_path: Path) -> None:
    items = "[" + ",".join(str(i) for i in range(200)) + "]"
    req = f"{items}.all(a, {items}.all(b, {items}.all(c, a + b + c >= 0)))"
    [(code, _, line, col, message)] = policy(tmp_path, "model", req)
    assert (code, line, col) == (dx.POLICY_EVAL, 57, 16)
    assert message == "policy 'p1' failed on model 'recommender': Iteration budget exceeded"


def _optional_fields(model: type) -> list[str]:
    return sorted(
        info.alias or name
        for name, info in model.model_fields.items()  # type: ignore[attr-defined]
        if info.default is None and name != "owner"  # owner defaults to metadata.owner
    )


@pytest.mark.parametrize("kind", ["model", "feature", "source", "slo"])
def test_unset_optional_fields_are_absent_for_has(tmp_path: Path, kind: str) -> None:
    from compiler.governance.policies import SECTION, SUBJECT_MODELS

    fields = _optional_fields(SUBJECT_MODELS[kind])
    checked, _ = check_text(tmp_path, BASE)
    assert checked is not None and fields
    subject = getattr(checked.project, SECTION[kind])[0]
    unset = 0
    for name in fields:
        present = getattr(subject, name.replace("-", "_")) is not None
        unset += not present
        expected = "true" if present else "false"
        assert policy(tmp_path, kind, f"has({kind}.{name}) == {expected}") == [], name
    assert unset >= 1, kind  # the BASE spec leaves some of them out
    nested = {"slo": [("sli", "latency"), ("alerting", "min_request_rate")]}
    for parent, name in nested.get(kind, []):
        assert policy(tmp_path, kind, f"!has({kind}.{parent}.{name})") == [], name
    if kind != "slo":  # owner defaults to metadata.owner: always present
        assert policy(tmp_path, kind, f"has({kind}.owner)") == []


def test_the_documented_explainability_guard_works(tmp_path: Path) -> None:
    guard = "!has(model.explainability) || model.explainability.method != 'none'"
    assert policy(tmp_path, "model", guard) == []
    found = policy(
        tmp_path, "model", "has(model.explainability) && model.explainability.method != 'none'"
    )
    assert [c for c, *_ in found] == ["p1"]  # no explainability: the policy fails, no error
    with_method = edit(
        BASE,
        (
            "    framework: sklearn\n",
            "    framework: sklearn\n    explainability: {method: shap}\n",
        ),
    )
    text = edit(
        with_method,
        (
            "  frameworks: [baseline]\n",
            "  frameworks: [baseline]\n"
            + POLICY.format(
                id="p1",
                desc="A rule",
                kind="model",
                when="true",
                req="has(model.explainability) && model.explainability.method != 'none'",
                sev="error",
            ),
        ),
    )
    _, sink = check_text(tmp_path, text)
    assert [d.code for d in sink.sorted()] == []


def test_each_rule_id_is_written_once_and_registered_in_the_table() -> None:
    import re

    import compiler.governance.rules as rules_module

    folder = Path(rules_module.__file__).parent
    source = "".join(p.read_text() for p in sorted(folder.glob("*.py")))
    for rule_id in RULES:
        assert len(re.findall(rf'"{rule_id}"', source)) == 1, rule_id
    # Every id-shaped string in the package is a registered rule (none registered elsewhere).
    assert set(re.findall(r'"([A-Z]+-\d{3})"', source)) == set(RULES)


def test_status_severity_and_pack_are_enums() -> None:
    from compiler.governance import Pack, RuleSeverity, Status

    assert [p.value for p in Pack] == ["baseline", "eu-ai-act", "gdpr"] == list(PACKS)
    assert {r.pack for r in RULES.values()} <= set(Pack)
    assert {r.severity for r in RULES.values()} == set(RuleSeverity)
    assert {s.value for s in Status} == {"pass", "fail", "waived", "warning"}


def test_rules_pack_option_offers_every_pack() -> None:
    import click

    from compiler.cli import rules
    from compiler.governance import Pack

    option = next(p for p in rules.params if p.name == "pack")
    assert isinstance(option.type, click.Choice)
    assert list(option.type.choices) == [p.value for p in Pack]


def test_outcomes_carry_enums() -> None:
    from compiler.governance import RuleSeverity, Status

    checked, _ = check_text(Path("."), HIGH)
    assert checked is not None
    outcomes = checked.governance.outcomes
    assert outcomes and all(isinstance(o.status, Status) for o in outcomes)
    assert all(isinstance(o.severity, RuleSeverity) for o in outcomes)
