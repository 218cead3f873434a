"""compiler/spec/validate.py: pydantic errors become coded diagnostics at the right spans."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import BASE, edit, load_text

from compiler import diagnostics as dx
from compiler.diagnostics import Sink
from compiler.spec.models import Model, Project, Serving
from compiler.spec.validate import keys_of, model_at, validate_project


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def validate(
    tmp_path: Path, text: str
) -> tuple[Project | None, list[tuple[str, int, int, str, str | None]]]:
    doc, sink = load_text(tmp_path, text)
    assert doc is not None, sink.items
    out = Sink()
    project = validate_project(doc, out)
    return project, [(d.code, d.span.line, d.span.column, d.message, d.hint) for d in out.sorted()]


def test_base_is_valid(tmp_path: Path) -> None:
    project, found = validate(tmp_path, BASE)
    assert found == [] and project is not None
    assert project.models[0].serving.runtime == "deployment"  # default applied


def test_unknown_key_points_at_the_key_with_a_suggestion(tmp_path: Path) -> None:
    _, found = validate(
        tmp_path,
        edit(BASE, ("      mode: realtime\n", "      mode: realtime\n      replicas: 3\n")),
    )
    assert found == [
        (
            dx.UNKNOWN_KEY,
            42,
            7,
            "unknown key 'replicas' in serving",
            "allowed keys: " + ", ".join(keys_of(Serving)),
        )
    ]
    _, found = validate(
        tmp_path,
        edit(BASE, ("      mode: realtime\n", "      mode: realtime\n      autoscalling: {}\n")),
    )
    assert found[0][4] == "did you mean 'autoscaling'?"


def test_misspelt_required_key_is_reported_once(tmp_path: Path) -> None:
    _, found = validate(tmp_path, edit(BASE, ("    version: 1.0.0", "    verison: 1.0.0")))
    assert [(c, h) for c, _, _, _, h in found] == [(dx.UNKNOWN_KEY, "did you mean 'version'?")]


def test_missing_key_points_at_the_parent(tmp_path: Path) -> None:
    _, found = validate(tmp_path, edit(BASE, ("  owner: ml\n", "")))
    assert found == [(dx.MISSING_KEY, 3, 1, "missing required key 'owner' in metadata", None)]
    _, found = validate(tmp_path, edit(BASE, ("      mode: realtime\n", "")))
    assert found == [(dx.MISSING_KEY, 40, 5, "missing required key 'mode' in serving", None)]


@pytest.mark.parametrize(
    ("old", "new", "code", "where", "text"),
    [
        (
            "    objective: 99.5",
            "    objective: [99]",
            dx.WRONG_TYPE,
            (47, 16),
            "objective must be a number, not a list",
        ),
        (
            "  name: shop\n",
            "  name: 12\n",
            dx.WRONG_TYPE,
            (4, 9),
            "name must be a string, not a number",
        ),
        ("    kind: file", "    kind: s3", dx.BAD_VALUE, (17, 11), "kind: 's3' is not one of"),
        (
            "    objective: 99.5",
            "    objective: 0",
            dx.OUT_OF_RANGE,
            (47, 16),
            "objective: input should be greater than 0",
        ),
        (
            "kind: MLOpsProject",
            "kind: Project",
            dx.BAD_HEADER,
            (2, 7),
            "kind must be 'MLOpsProject', not 'Project'",
        ),
        (
            "    framework: sklearn",
            "    framework: sklearn\n    risk: unacceptable",
            dx.BAD_RISK,
            (33, 11),
            "prohibited (EU AI Act Art. 5)",
        ),
        (
            "  frameworks: [baseline]",
            "  frameworks: [baseline, soc2]",
            dx.BAD_VALUE,
            (51, 26),
            "'soc2' is not one of baseline, eu-ai-act, gdpr",
        ),
        (
            "    namespace: shop-prod",
            "    namespace: default",
            dx.BAD_VALUE,
            (13, 16),
            "'default' namespace is not allowed",
        ),
    ],
)
def test_error_mapping(
    tmp_path: Path, old: str, new: str, code: str, where: tuple[int, int], text: str
) -> None:
    _, found = validate(tmp_path, edit(BASE, (old, new)))
    assert len(found) == 1, found
    assert found[0][0] == code
    assert found[0][1:3] == where
    assert text in found[0][3]


def test_enum_hint_suggests_the_nearest(tmp_path: Path) -> None:
    _, found = validate(tmp_path, edit(BASE, ("      mode: realtime", "      mode: real-time")))
    assert found[0][4] == "did you mean 'realtime'?"


def test_every_error_is_reported(tmp_path: Path) -> None:
    text = edit(
        BASE,
        ("    version: 1.0.0", "    version: one"),
        ("    objective: 99.5", "    objective: 101"),
        (
            "    ttl: 1d\n" if False else "    source: orders\n",
            "    source: orders\n    ttl: soon\n",
        ),
    )
    _, found = validate(tmp_path, text)
    assert [c for c, *_ in found] == [dx.BAD_DURATION, dx.BAD_SEMVER, dx.OUT_OF_RANGE]


def test_model_at_follows_lists_and_dicts() -> None:
    assert model_at(("models", 3)) is Model
    assert model_at(("models", 0, "serving", "overrides", "staging")) is not None
    assert model_at(("models", 0, "nothing")) is None


def test_unknown_key_in_an_override_gets_a_hint(tmp_path: Path) -> None:
    text = edit(
        BASE,
        (
            "      resources: {cpu: 500m, memory: 1Gi}\n",
            "      resources: {cpu: 500m, memory: 1Gi}\n      overrides:\n        staging: {autoscale: {max_replicas: 2}}\n",
        ),
    )
    _, found = validate(tmp_path, text)
    assert found == [
        (
            dx.UNKNOWN_KEY,
            45,
            19,
            "unknown key 'autoscale' in staging",
            "did you mean 'autoscaling'?",
        )
    ]
