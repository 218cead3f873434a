"""An environment folder too large for one Argo CD Application is split between several, each
reading its part of the folder: Argo CD's repo server refuses a directory source over 10M of
manifests (`reposerver.max.combined.directory.manifests.size`), and an Application's status
lists every resource it manages (etcd caps the object at about 1.5 MB; about 3,000 resources
were too many). A 1,000-model environment holds 24 MB and 12,000 objects. Every file is read by
exactly one Application, each stays under both limits, and one that would not is a located
error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from compiler import conventions
from compiler.build import compile_outputs
from compiler.conventions import argocd_directories, argocd_reads
from compiler.diagnostics import Sink
from compiler.pipeline import check_spec
from compiler.render_jobs import render_targets
from tests.crd_validate import validate
from tests.helpers import edit
from tests.test_scale_linear import _gen_spec


def build(
    tmp_path: Path, models: int, *edits: tuple[str, str]
) -> tuple[Any, dict[str, bytes], Sink, str]:
    """Check, plan and render bench/gen_spec.py's spec of `models` models (with `edits`)."""
    spec = tmp_path / "mlops.yaml"
    text = edit(_gen_spec(models), *edits)
    spec.write_text(text)
    sink = Sink()
    checked = check_spec(str(spec), sink)
    assert checked is not None, sink.items
    compiled = compile_outputs(
        checked, sink, renderer=lambda plan, names: render_targets(plan, names, jobs=1)
    )
    if compiled is None:
        return None, {}, sink, text
    return compiled.plan, {a.path: a.content for a in compiled.artifacts}, sink, text


def folder_files(files: dict[str, bytes], env: str) -> dict[str, bytes]:
    prefix = f"kubernetes/{env}/"
    return {p[len(prefix) :]: c for p, c in files.items() if p.startswith(prefix)}


def test_a_large_environment_is_split_between_applications(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(conventions, "SHARD_WEIGHT", 30)
    plan, files, sink, _ = build(tmp_path, 40)
    assert plan is not None, sink.items
    for ep in plan.environments:
        # consecutive groups of the models, in order, each within the weight
        assert [m for shard in ep.shards for m in shard] == [mp.name for mp in ep.models]
        assert len(ep.shards) > 1
        slos = {sp.model.name: 0 for sp in plan.slos}
        for sp in plan.slos:
            slos[sp.model.name] += 1
        for shard in ep.shards:
            assert sum(1 + slos.get(m, 0) for m in shard) <= 30
        apps = list(yaml.safe_load_all(files[f"argocd/{ep.name}.yaml"]))
        assert len(apps) == len(ep.shards) + 1
        for app in apps:
            assert validate(app) == []
        assert [a["spec"]["source"]["directory"] for a in apps] == [
            {"recurse": False, **d} for d in argocd_directories(ep.shards)
        ]
        assert {a["spec"]["source"]["path"] for a in apps} == {f"deploy/kubernetes/{ep.name}"}
        assert len({a["spec"]["source"]["targetRevision"] for a in apps}) == 1
        names = [a["metadata"]["name"] for a in apps]
        assert names == [f"{plan.name}-{ep.name}"] + [
            f"{plan.name}-{ep.name}-models-{i}" for i in range(1, len(ep.shards) + 1)
        ]
        for app in apps:
            labels = app["metadata"]["labels"]
            assert labels["mlopsc/environment"] == ep.name
            assert app["metadata"]["annotations"] == apps[0]["metadata"]["annotations"]
            assert app["spec"]["syncPolicy"] == apps[0]["spec"]["syncPolicy"]
        # every file but the kustomization is read by exactly one Application
        here = folder_files(files, ep.name)
        for name in here:
            readers = [d for d in argocd_directories(ep.shards) if argocd_reads(d, name)]
            assert len(readers) == (0 if name == "kustomization.yaml" else 1), name
        # a group's Application reads its models' objects and their PrometheusRules
        for i, shard in enumerate(ep.shards, 1):
            directory = argocd_directories(ep.shards)[i]
            read = [n for n in here if argocd_reads(directory, n)]
            rules = [n for n in read if n.startswith("prometheus-rules")]
            assert rules == [f"prometheus-rules-{i}.yaml"] or not rules
            names = {
                doc["metadata"]["name"]
                for n in rules
                for doc in yaml.safe_load_all(here[n])
                if isinstance(doc, dict)
            }
            assert names <= {f"{plan.name}-{m}-slos" for m in shard}
            assert {n for n in read if n.startswith("model-")} == {f"model-{m}.yaml" for m in shard}
        kustomization = yaml.safe_load(here["kustomization.yaml"])
        assert sorted(kustomization["resources"]) == sorted(
            n for n in here if n != "kustomization.yaml"
        )


def test_at_the_benchmark_sizes_each_application_stays_far_under_the_limits(
    tmp_path: Path,
) -> None:
    plan, files, sink, _ = build(tmp_path, 110)  # weight 220: two groups of models
    assert plan is not None, sink.items
    for ep in plan.environments:
        assert len(ep.shards) == 2
        here = folder_files(files, ep.name)
        for directory in argocd_directories(ep.shards):
            read = [c for n, c in here.items() if argocd_reads(directory, n)]
            size = sum(len(c) for c in read)
            objects = sum(c.count(b"\n---\n") + 1 for c in read)
            assert size < conventions.ARGOCD_SOURCE_LIMIT / 4, (directory, size)
            assert objects < conventions.ARGOCD_APP_OBJECTS, (directory, objects)


@pytest.mark.parametrize(
    ("limit", "value", "said"),
    [("ARGOCD_SOURCE_LIMIT", 50_000, "per source"), ("ARGOCD_APP_OBJECTS", 20, "objects")],
)
def test_an_application_over_a_limit_is_a_located_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: str, value: int, said: str
) -> None:
    monkeypatch.setattr(conventions, limit, value)
    plan, files, sink, text = build(tmp_path, 10)
    assert plan is None and not files
    errors = [d for d in sink.items if d.code == "MLC416"]
    assert errors and all(said in d.message for d in errors)
    lines = text.splitlines()
    staging = next(i for i, line in enumerate(lines, 1) if "name: staging" in line)
    assert any(d.span.line == staging and "environment 'staging'" in d.message for d in errors)


def test_a_small_environment_keeps_one_application(built_examples: dict[str, Path]) -> None:
    for out in built_examples.values():
        for app in sorted((out / "argocd").glob("*.yaml")):
            (only,) = yaml.safe_load_all(app.read_text())
            spec = only["spec"]
            assert spec["source"]["directory"] == {
                "recurse": False,
                "exclude": "kustomization.yaml",
            }
            assert "sources" not in spec


def test_application_names_never_collide(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A group's Application is `<project>-<env>-models-<n>`: an environment named like that
    would take the same name, which is refused where the environment is declared."""
    monkeypatch.setattr(conventions, "SHARD_WEIGHT", 30)
    plan, _, sink, _ = build(tmp_path, 40, ("{name: production,", "{name: staging-models-1,"))
    assert plan is None
    (error,) = [d for d in sink.items if d.code == "MLC416"]
    assert "would be named bench-staging-models-1" in error.message
