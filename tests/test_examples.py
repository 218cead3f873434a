"""Every examples/<name>/mlops.yaml validates with no errors and no warnings."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import ROOT

from compiler.cli import cli

EXAMPLES = sorted((ROOT / "examples").glob("*/mlops.yaml"))


def test_examples_are_found() -> None:
    assert {p.parent.name for p in EXAMPLES} >= {"payments-ml", "recsys", "credit-scoring"}


@pytest.mark.parametrize("spec", EXAMPLES, ids=[p.parent.name for p in EXAMPLES])
def test_example_validates(spec: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1798761600")
    result = CliRunner().invoke(cli, ["validate", "--strict", str(spec)])
    assert result.exit_code == 0, result.output
    assert "error[" not in result.output and "warning[" not in result.output
    first = spec.read_text(encoding="utf-8").splitlines()[0]
    assert first == "# yaml-language-server: $schema=../../schemas/mlops-v1.schema.json"


@pytest.mark.parametrize("spec", EXAMPLES, ids=[p.parent.name for p in EXAMPLES])
def test_example_pins_every_image_and_artifact(spec: Path) -> None:
    from compiler.diagnostics import Sink
    from compiler.pipeline import check_spec

    checked = check_spec(str(spec), Sink())
    assert checked is not None
    for model in checked.project.models:
        assert model.artifact.digest is not None, model.name
        images = [
            model.serving.image,
            model.training and model.training.image,
            model.monitoring.drift and model.monitoring.drift.image,
        ]
        images += [o.image for o in model.serving.overrides.values()]
        for image in filter(None, images):
            assert "@sha256:" in image, image
