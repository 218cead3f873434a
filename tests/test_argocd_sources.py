"""An environment folder too large for one Argo CD source is read by several sources of its one
Application: Argo CD's repo server refuses a directory source over 10M of manifests
(`reposerver.max.combined.directory.manifests.size`), which a 1,000-model environment (24 MB)
would be. Every file is read by exactly one source, each source stays under the limit, and a
source that would not is a located error."""

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
from tests.test_scale_linear import _gen_spec


def build(tmp_path: Path, models: int) -> tuple[Any, dict[str, bytes], Sink, str]:
    spec = tmp_path / "mlops.yaml"
    text = _gen_spec(models)
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


def test_a_large_environment_is_read_by_several_sources(
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
        app = yaml.safe_load(files[f"argocd/{ep.name}.yaml"])
        assert validate(app) == []
        assert "source" not in app["spec"]
        sources = app["spec"]["sources"]
        assert [s["directory"] for s in sources] == [
            {"recurse": False, **d} for d in argocd_directories(ep.shards)
        ]
        assert {s["path"] for s in sources} == {f"deploy/kubernetes/{ep.name}"}
        assert len({s["targetRevision"] for s in sources}) == 1
        # every file but the kustomization is read by exactly one source
        here = folder_files(files, ep.name)
        for name in here:
            readers = [d for d in argocd_directories(ep.shards) if argocd_reads(d, name)]
            assert len(readers) == (0 if name == "kustomization.yaml" else 1), name
        # a shard's source reads its models' objects and their PrometheusRules
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


def test_at_the_benchmark_sizes_each_source_stays_far_under_the_limit(tmp_path: Path) -> None:
    plan, files, sink, _ = build(tmp_path, 220)  # weight 440: two sources of models
    assert plan is not None, sink.items
    for ep in plan.environments:
        assert len(ep.shards) == 2
        here = folder_files(files, ep.name)
        for directory in argocd_directories(ep.shards):
            size = sum(len(c) for n, c in here.items() if argocd_reads(directory, n))
            assert size < conventions.ARGOCD_SOURCE_LIMIT / 2, (directory, size)


def test_a_source_over_the_limit_is_a_located_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(conventions, "ARGOCD_SOURCE_LIMIT", 50_000)
    plan, files, sink, text = build(tmp_path, 10)
    assert plan is None and not files
    errors = [d for d in sink.items if d.code == "MLC416"]
    assert errors and all("per source" in d.message for d in errors)
    lines = text.splitlines()
    staging = next(i for i, line in enumerate(lines, 1) if "name: staging" in line)
    assert any(d.span.line == staging and "environment 'staging'" in d.message for d in errors)


def test_a_small_environment_keeps_one_source(built_examples: dict[str, Path]) -> None:
    for out in built_examples.values():
        for app in sorted((out / "argocd").glob("*.yaml")):
            spec = yaml.safe_load(app.read_text())["spec"]
            assert spec["source"]["directory"] == {
                "recurse": False,
                "exclude": "kustomization.yaml",
            }
            assert "sources" not in spec
