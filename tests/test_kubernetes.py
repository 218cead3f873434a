"""The Kubernetes and Argo CD outputs, judged by their real consumers (the README names each)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import require_tool, venv_tool
from tests.crd_validate import validate_paths

CUSTOM_GROUPS = (
    "serving.kserve.io/",
    "monitoring.coreos.com/",
    "argoproj.io/",
    "kustomize.config.k8s.io/",
)
CLUSTER_SCOPED = {"Namespace", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}


def documents(folder: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in sorted(folder.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                yield path, doc


def env_folders(built: dict[str, Path]) -> list[Path]:
    return sorted(p for out in built.values() for p in (out / "kubernetes").iterdir() if p.is_dir())


def test_core_objects_pass_kubernetes_validate_strict(
    built_examples: dict[str, Path], tmp_path: Path
) -> None:
    tool = require_tool("kubernetes-validate", "pip install kubernetes-validate")
    core = []
    for out in built_examples.values():
        core += [
            doc
            for _, doc in documents(out / "kubernetes")
            if not doc["apiVersion"].startswith(CUSTOM_GROUPS)
        ]
    assert {d["kind"] for d in core} >= {
        "Namespace",
        "ServiceAccount",
        "ConfigMap",
        "NetworkPolicy",
        "CronJob",
    }
    # One file per object: kubernetes-validate then names every failing object precisely.
    files = []
    for i, doc in enumerate(core):
        path = tmp_path / f"{i:04d}-{doc['kind']}.yaml"
        path.write_text(yaml.safe_dump(doc))
        files.append(str(path))
    result = subprocess.run(
        [tool, "-k", "1.33.0", "--strict", *files], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ERROR" not in result.stdout and "WARN" not in result.stdout
    assert result.stdout.count("INFO") == len(files)


def test_custom_resources_match_their_crds(built_examples: dict[str, Path]) -> None:
    folders = [out / sub for out in built_examples.values() for sub in ("kubernetes", "argocd")]
    report = validate_paths(folders)
    assert report.errors == []
    assert report.checked >= 20
    kinds = {
        doc["kind"] for out in built_examples.values() for _, doc in documents(out / "kubernetes")
    }
    # the canary objects are among the judged ones (their schemas are vendored too)
    assert {"Rollout", "AnalysisTemplate", "InferenceService", "ServiceMonitor"} <= kinds


def test_every_environment_renders_with_kustomize(built_examples: dict[str, Path]) -> None:
    kubectl = require_tool(
        "kubectl", "kubectl (with kustomize built in) is preinstalled on these machines"
    )
    for folder in env_folders(built_examples):
        result = subprocess.run(
            [kubectl, "kustomize", str(folder)], capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, f"{folder}: {result.stderr}"
        rendered = [d for d in yaml.safe_load_all(result.stdout) if d]
        on_disk = [d for p, d in documents(folder) if p.name != "kustomization.yaml"]
        assert len(rendered) == len(on_disk)


def test_checkov_finds_nothing(built_examples: dict[str, Path]) -> None:
    checkov = venv_tool("checkov")
    for out in built_examples.values():
        result = subprocess.run(
            [
                checkov,
                "-d",
                str(out / "kubernetes"),
                "--framework",
                "kubernetes",
                "--compact",
                "--quiet",
                "--skip-download",
                "-o",
                "json",
            ],
            capture_output=True,
            text=True,
            timeout=900,
        )
        import json

        report = json.loads(result.stdout)
        reports = report if isinstance(report, list) else [report]
        summary = reports[0]["summary"]
        failed = [
            c["check_id"] + " " + c["resource"]
            for r in reports
            for c in r["results"]["failed_checks"]
        ]
        assert summary["failed"] == 0, failed
        assert summary["passed"] > 50


def test_every_object_is_labelled_and_namespaced(built_examples: dict[str, Path]) -> None:
    for name, out in built_examples.items():
        for path, doc in documents(out / "kubernetes"):
            if doc["kind"] == "Kustomization":
                continue
            labels = doc["metadata"].get("labels", {})
            assert labels.get("app.kubernetes.io/managed-by") == "mlopsc", (path, doc["kind"])
            assert "app.kubernetes.io/part-of" in labels
            if path.name.startswith("model-"):
                assert {"mlopsc/model", "mlopsc/risk", "mlopsc/owner"} <= set(labels), (
                    path,
                    doc["kind"],
                )
            if doc["kind"] not in CLUSTER_SCOPED:
                assert doc["metadata"]["namespace"] not in (None, "", "default"), (name, path)
            else:
                assert "namespace" not in doc["metadata"], (name, path)


def _pod_specs(doc: dict[str, Any]) -> list[dict[str, Any]]:
    if doc["kind"] in ("Deployment", "Rollout"):
        return [doc["spec"]["template"]["spec"]]
    if doc["kind"] == "CronJob":
        return [doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]]
    return []


def test_workloads_are_hardened(built_examples: dict[str, Path]) -> None:
    seen = 0
    for out in built_examples.values():
        for _, doc in documents(out / "kubernetes"):
            for pod in _pod_specs(doc):
                seen += 1
                assert pod["automountServiceAccountToken"] is False
                sec = pod["securityContext"]
                assert sec["runAsNonRoot"] is True and sec["runAsUser"] >= 10000
                assert sec["seccompProfile"]["type"] == "RuntimeDefault"
                for container in pod["containers"]:
                    csec = container["securityContext"]
                    assert csec["allowPrivilegeEscalation"] is False
                    assert csec["readOnlyRootFilesystem"] is True
                    assert csec["capabilities"]["drop"] == ["ALL"]
                    assert "@sha256:" in container["image"]
                    for key in ("requests", "limits"):
                        assert {"cpu", "memory"} <= set(container["resources"][key])
                    if doc["kind"] in ("Deployment", "Rollout"):
                        assert container["livenessProbe"] and container["readinessProbe"]
    assert seen > 3


def test_realtime_models_get_their_runtime_objects(built_examples: dict[str, Path]) -> None:
    for out in built_examples.values():
        by_file: dict[str, set[str]] = {}
        for path, doc in documents(out / "kubernetes"):
            by_file.setdefault(str(path), set()).add(doc["kind"])
            if doc["kind"] == "InferenceService":
                assert (
                    doc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Standard"
                )
                predictor = doc["spec"]["predictor"]
                assert predictor["minReplicas"] <= predictor["maxReplicas"]
                for canary in doc["spec"].get("canary", []):
                    assert 1 <= canary["trafficPercent"] <= 99
                    assert canary["predictor"]["model"]["name"]
        for kinds in by_file.values():
            if kinds & {"Deployment", "Rollout"}:
                assert {
                    "Service",
                    "HorizontalPodAutoscaler",
                    "PodDisruptionBudget",
                    "NetworkPolicy",
                } <= kinds


def test_argocd_applications_follow_approval(built_examples: dict[str, Path]) -> None:
    out = built_examples["payments-ml"]
    staging = yaml.safe_load((out / "argocd" / "staging.yaml").read_text())
    prod = yaml.safe_load((out / "argocd" / "production.yaml").read_text())
    assert staging["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
    assert "automated" not in prod["spec"]["syncPolicy"]
    assert prod["spec"]["destination"] == {
        "server": "https://prod.k8s.example.com",
        "namespace": "payments-ml-prod",
    }
    assert prod["spec"]["source"]["repoURL"] == "https://github.com/acme/payments-ml.git"
    assert prod["spec"]["source"]["path"].endswith("kubernetes/production")
    # what production syncs is the commit its promotion approved
    assert prod["spec"]["source"]["targetRevision"] == "mlopsc/production"
    assert staging["spec"]["source"]["targetRevision"] == "HEAD"


def test_label_values_are_valid_for_any_semver() -> None:
    from compiler.plan import label_value

    assert label_value("3.2.0") == "3.2.0"
    assert label_value("1.0.0-rc.1+build.5") == "1.0.0-rc.1_build.5"
    assert len(label_value("1.0.0-" + "a" * 80)) <= 63


def test_an_object_too_large_for_the_api_server_stops_the_build(tmp_path: Path) -> None:
    from tests.conftest import run_mlopsc
    from tests.helpers import BASE, edit

    big = "x" * (1024 * 1024)
    spec = tmp_path / "mlops.yaml"
    spec.write_text(
        edit(
            BASE,
            ("      data: [orders]\n", f'      data: [orders]\n      params: {{blob: "{big}"}}\n'),
        )
    )
    out = tmp_path / "out"
    result = run_mlopsc("build", str(spec), "-o", str(out), "--only", "kubernetes")
    assert result.returncode == 1, result.stderr
    line = next(ln for ln in result.stderr.splitlines() if "error[MLC415]" in ln)
    # located at the model whose values made it, naming the file, kind, namespace and name
    models_line = spec.read_text().splitlines().index("models:") + 2
    assert line.startswith(f"{spec}:{models_line}:")
    assert (
        "kubernetes/staging/model-recommender.yaml: CronJob shop-staging/shop-recommender-train"
        in line
    )
    assert not out.exists()
    # half the size fits: the limit is about the object, not the file
    spec.write_text(spec.read_text().replace(big, big[: len(big) // 2]))
    assert run_mlopsc("build", str(spec), "-o", str(out), "--only", "kubernetes").returncode == 0


def test_manifests_are_measured_object_by_object() -> None:
    from compiler.targets.k8s_manifests import MAX_OBJECT_BYTES, ObjectTooLarge, manifest_text

    half = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "n"}}
    half["data"] = {"k": "y" * (MAX_OBJECT_BYTES // 2)}
    text = manifest_text("kubernetes/x/f.yaml", [half, half, half], source=("models", 0))
    assert len(text) > MAX_OBJECT_BYTES and text.count(b"kind: ConfigMap") == 3
    half["data"] = {"k": "y" * MAX_OBJECT_BYTES}
    with pytest.raises(ObjectTooLarge, match=r"kubernetes/x/f.yaml: ConfigMap n/a would be") as err:
        manifest_text("kubernetes/x/f.yaml", [half], source=("models", 3))
    assert err.value.path == ("models", 3) and err.value.code == "MLC415"


def test_no_kubernetes_object_over_the_limit_is_ever_written(tmp_path: Path) -> None:
    """Many SLOs in one environment: the build either splits its objects so that each fits, or
    stops with MLC415 at `slos:`; it never writes an object the API server would refuse."""
    from compiler.targets.k8s_manifests import MAX_OBJECT_BYTES
    from tests.conftest import ROOT, run_mlopsc

    spec = tmp_path / "mlops.yaml"
    gen = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "gen_spec.py"), "150"],
        capture_output=True,
        text=True,
        check=True,
    )
    spec.write_text(gen.stdout)
    out = tmp_path / "out"
    result = run_mlopsc("build", str(spec), "-o", str(out), "--only", "kubernetes,monitoring")
    if result.returncode == 1:
        line = next(ln for ln in result.stderr.splitlines() if "error[MLC415]" in ln)
        first_slo = gen.stdout.splitlines().index("slos:") + 2  # the list under `slos:`
        assert line.startswith(f"{spec}:{first_slo}:") and "PrometheusRule" in line
        assert not out.exists()
        return
    assert result.returncode == 0, result.stderr
    for path in (out / "kubernetes").rglob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                assert len(json.dumps(doc, separators=(",", ":"))) <= MAX_OBJECT_BYTES, path


def _templates(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, str], bool]]:
    """(workload, pod labels, serves traffic) of every pod an environment's objects create:
    KServe labels its predictor pods with the InferenceService's name."""
    found = []
    for doc in docs:
        name = f"{doc['kind']}/{doc.get('metadata', {}).get('name')}"
        if doc["kind"] in ("Deployment", "Rollout"):
            found.append((name, doc["spec"]["template"]["metadata"]["labels"], True))
        elif doc["kind"] == "CronJob":
            template = doc["spec"]["jobTemplate"]["spec"]["template"]
            found.append((name, template["metadata"]["labels"], False))
        elif doc["kind"] == "Job":
            found.append((name, doc["spec"]["template"]["metadata"]["labels"], False))
        elif doc["kind"] == "InferenceService":
            labels = {"serving.kserve.io/inferenceservice": doc["metadata"]["name"]}
            found.append((name, labels, True))
    return found


def _matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def test_serving_selectors_pick_the_serving_pods_only(built_examples: dict[str, Path]) -> None:
    """A Service, PodDisruptionBudget or ingress NetworkPolicy of a model selects its serving
    pods and nothing else: a drift or training Job's pod carries the model's labels too, and
    a Service that selected it would send requests to a pod that serves none (and a
    maxUnavailable budget cannot count a Job's pods, so node drains would stall)."""
    checked = jobs = 0
    for folder in env_folders(built_examples):
        docs = [doc for _, doc in documents(folder)]
        templates = _templates(docs)
        jobs += sum(not serves for _, _, serves in templates)
        for doc in docs:
            if doc["kind"] == "Service":
                selector = doc["spec"]["selector"]
            elif doc["kind"] == "PodDisruptionBudget":
                selector = doc["spec"]["selector"]["matchLabels"]
            elif doc["kind"] == "NetworkPolicy" and doc["spec"].get("ingress"):
                selector = doc["spec"]["podSelector"].get("matchLabels", {})
                if not selector:
                    continue
            else:
                continue
            picked = [(n, serves) for n, labels, serves in templates if _matches(selector, labels)]
            where = (folder.name, doc["kind"], doc["metadata"]["name"])
            assert picked, where
            assert all(serves for _, serves in picked), (where, picked)
            checked += 1
    assert checked >= 9 and jobs >= 2


def test_kserve_pods_admit_the_scrapes_their_slis_need(built_examples: dict[str, Path]) -> None:
    """The namespace denies all ingress; a KServe model's availability SLI reads the Istio
    sidecar's istio_requests_total, so its predictor pods admit Prometheus on the sidecar's
    metrics ports as well as the model server's. A Deployment's pods admit the serving port
    only (its ServiceMonitor scrapes /metrics there)."""
    kserve = plain = 0
    for folder in env_folders(built_examples):
        for _, doc in documents(folder):
            if doc["kind"] != "NetworkPolicy" or not doc["spec"].get("ingress"):
                continue
            selector = doc["spec"]["podSelector"].get("matchLabels", {})
            ports = {p["port"] for rule in doc["spec"]["ingress"] for p in rule["ports"]}
            if "serving.kserve.io/inferenceservice" in selector:
                assert ports == {8080, 15020, 15090}, doc["metadata"]["name"]
                kserve += 1
            elif selector:
                assert len(ports) == 1, doc["metadata"]["name"]
                plain += 1
    assert kserve and plain
