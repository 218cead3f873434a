"""The CI/CD targets beyond GitHub and GitLab: Azure Pipelines, Cloud Build, AWS, Jenkins.

Each output is judged by its real checker on every example that enables the target and on a
build of the hostile spec of tests/test_ci_injection.py; `outputs.ci` chooses what a full
build writes, `--only` builds any of them.
"""

from __future__ import annotations

import itertools
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from compiler.render.groovy import groovy_block, groovy_string
from compiler.render.pipelines import (
    azure_path_filter,
    azure_value,
    cfn_sub_literal,
    cloudbuild_value,
)
from tests.conftest import EXAMPLES, require_tool, run_mlopsc
from tests.helpers import BASE
from tests.test_ci_injection import HOSTILE_PARAM, HOSTILE_WORDS, hostile_spec

NEW_TARGETS = ("azure", "cloudbuild", "aws", "jenkins")
AZURE = "azure/azure-pipelines.yml"
JENKINSFILE = "jenkins/Jenkinsfile"
CLOUDFORMATION = "aws/pipeline.yaml"
EXAMPLES_BY_NAME = {e.name: e for e in EXAMPLES}


def enabled(example: Path) -> set[str]:
    spec = yaml.safe_load((example / "mlops.yaml").read_text())
    return set(spec.get("outputs", {}).get("ci", ["github", "gitlab"]))


def examples_with(target: str) -> list[str]:
    return [e.name for e in EXAMPLES if target in enabled(e)]


@pytest.fixture(scope="module")
def hostile_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hostile-more")
    spec = hostile_spec(folder)
    out = folder / "out"
    done = run_mlopsc("build", str(spec), "-o", str(out), "--only", ",".join(NEW_TARGETS))
    assert done.returncode == 0, done.stderr
    return out


def check_jsonschema(schema: str, files: list[Path]) -> None:
    tool = require_tool("check-jsonschema", "pip install check-jsonschema")
    # The vendored Azure schema's branch-filter pattern escapes ':' (`\:`), which the default
    # ECMAScript-unicode regex engine rejects with a crash; Python's engine reads it as meant.
    variant = ["--regex-variant", "python"] if schema == "vendor.azure-pipelines" else []
    done = subprocess.run(
        [tool, *variant, "--builtin-schema", schema, *map(str, files)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_new_target_is_enabled_by_an_example() -> None:
    for target in NEW_TARGETS:
        assert examples_with(target), target


def test_a_full_build_writes_only_the_listed_ci_systems(built_examples: dict[str, Path]) -> None:
    for example in EXAMPLES:
        wanted = enabled(example)
        out = built_examples[example.name]
        assert (out / "gitlab").exists() == ("gitlab" in wanted)
        for target in NEW_TARGETS:
            assert (out / target).exists() == (target in wanted), (example.name, target)


def test_only_builds_a_target_the_spec_does_not_list(tmp_path: Path) -> None:
    example = next(e for e in EXAMPLES if "cloudbuild" not in enabled(e))
    for target in NEW_TARGETS:
        out = tmp_path / target
        done = run_mlopsc("build", str(example / "mlops.yaml"), "-o", str(out), "--only", target)
        assert done.returncode == 0, done.stderr
        assert (out / target).is_dir()


@pytest.mark.parametrize("example", examples_with("azure"))
def test_azure_schema(built_examples: dict[str, Path], example: str) -> None:
    check_jsonschema("vendor.azure-pipelines", [built_examples[example] / AZURE])


@pytest.mark.parametrize("example", examples_with("cloudbuild"))
def test_cloudbuild_schema(built_examples: dict[str, Path], example: str) -> None:
    files = sorted((built_examples[example] / "cloudbuild").glob("*.yaml"))
    assert files
    check_jsonschema("vendor.cloudbuild", files)


def test_hostile_outputs_pass_the_schemas(hostile_out: Path) -> None:
    check_jsonschema("vendor.azure-pipelines", [hostile_out / AZURE])
    check_jsonschema("vendor.cloudbuild", sorted((hostile_out / "cloudbuild").glob("*.yaml")))


def test_azure_flow(built_examples: dict[str, Path]) -> None:
    out = built_examples[examples_with("azure")[0]]
    doc = yaml.safe_load((out / AZURE).read_text())
    stages = {s["stage"]: s for s in doc["stages"]}
    assert list(stages)[:2] == ["check", "train"]
    promotions = [s for s in doc["stages"] if s["stage"].startswith("promote_")]
    assert len(promotions) >= 2
    for before, stage in itertools.pairwise(promotions):
        assert stage["dependsOn"] == [before["stage"]]
    for stage in promotions:
        (job,) = stage["jobs"]
        # A deployment job in an Azure DevOps environment: its approvals gate the stage.
        assert job["environment"]["name"] == job["variables"]["MLOPSC_ENVIRONMENT"]
        assert "Manual" in stage["condition"]
    table = json.loads((out / "azure/mlopsc-training.json").read_text())
    assert [r["model"] for r in table] == doc["parameters"][0]["values"][1:]


def test_hostile_text_stays_data_in_azure(hostile_out: Path) -> None:
    text = (hostile_out / AZURE).read_text()
    for word in [*HOSTILE_WORDS[:2], "acme-models", "$HOME"]:
        assert word not in text, word
    table = json.loads((hostile_out / "azure/mlopsc-training.json").read_text())
    fraud = next(r for r in table if r["model"] == "fraud-detector")
    assert fraud["command"] == ["python", *HOSTILE_WORDS]
    assert fraud["env"]["MLOPSC_PARAM_NOTE"] == HOSTILE_PARAM
    doc = yaml.safe_load(text)
    paths = doc["trigger"]["paths"]["include"]
    assert "parts/a?b#1.yaml" in paths


def unsubstitute(text: str) -> str:
    """What Cloud Build passes for a string with no substitution but `$$`."""
    assert "$" not in text.replace("$$", ""), text
    return text.replace("$$", "$")


def test_hostile_text_stays_data_in_cloudbuild(hostile_out: Path) -> None:
    doc = yaml.safe_load((hostile_out / "cloudbuild/mlopsc-train-fraud-detector.yaml").read_text())
    train = next(s for s in doc["steps"] if s["id"] == "train")
    assert [unsubstitute(a) for a in train["args"]] == ["python", *HOSTILE_WORDS]
    env = dict(unsubstitute(e).split("=", 1) for e in train["env"])
    assert env["MLOPSC_PARAM_NOTE"] == HOSTILE_PARAM
    churn = yaml.safe_load((hostile_out / "cloudbuild/mlopsc-train-churn-model.yaml").read_text())
    for step in churn["steps"]:
        for value in [*step.get("args", []), *step.get("env", [])]:
            unsubstitute(value)


def test_cloudbuild_substitutes_only_on_purpose(built_examples: dict[str, Path]) -> None:
    out = built_examples[examples_with("cloudbuild")[0]]
    deliberate = {"$BRANCH_NAME", "$_MLOPSC_GIT_URL", "$_BASE_BRANCH", "$PROJECT_ID"}
    for path in sorted((out / "cloudbuild").glob("*.yaml")):
        text = path.read_text().replace("$$", "")
        for word in deliberate:
            text = text.replace(word, "")
        assert "$" not in text, path.name


def test_escaping_functions() -> None:
    assert cloudbuild_value("a$b${c}$$") == "a$$b$${c}$$$$"
    assert cfn_sub_literal("x${AWS::Region}y") == "x${!AWS::Region}y"
    assert azure_value("mlops.yaml") == "mlops.yaml"
    for bad in ("$(System.AccessToken)", "${{ parameters.x }}", "$[ variables.x ]", "a\nb"):
        with pytest.raises(ValueError):
            azure_value(bad)
    assert azure_path_filter("parts/a b[1]:~^.yaml") == "parts/a?b?1????.yaml"


def groovy() -> str:
    return require_tool("groovy", "apt-get install -y groovy default-jre-headless")


def groovy_parses(path: Path) -> None:
    done = subprocess.run(
        [groovy(), "-e", "new GroovyShell().parse(new File(args[0]))", str(path)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("example", examples_with("jenkins"))
def test_jenkinsfile_parses(built_examples: dict[str, Path], example: str) -> None:
    groovy_parses(built_examples[example] / JENKINSFILE)


def test_hostile_jenkinsfile_parses_and_keeps_text_as_data(hostile_out: Path) -> None:
    path = hostile_out / JENKINSFILE
    groovy_parses(path)
    text = path.read_text()
    for word in [*HOSTILE_WORDS[:2], "acme-models"]:
        assert word not in text, word
    # CI-trained on a schedule: one parameterized cron line names the model.
    assert "% MLOPSC_TRAIN=fraud-detector" in text
    assert "changeset 'parts/a b#1.yaml'" in text


def test_groovy_literals_round_trip(tmp_path: Path) -> None:
    values = [
        *HOSTILE_WORDS,
        HOSTILE_PARAM,
        "back\\slash\\",
        "it's",
        "'''",
        "${x}",
        "t\tc\r",
        "\\u0041\\\\u0042",
        "\x01\u2028",
    ]
    script = "\n".join(values) + "\n'"
    body = ", ".join(groovy_string(v) for v in values)
    source = tmp_path / "literals.groovy"
    source.write_text(
        f"def values = [{body}, {groovy_block(script)}]\n"
        "values.each { println(it.getBytes('UTF-8').encodeHex().toString()) }\n"
    )
    done = subprocess.run([groovy(), str(source)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    got = [bytes.fromhex(line).decode() for line in done.stdout.splitlines()]
    assert got == [*values, script]


def cfn_lint(path: Path) -> None:
    tool = require_tool("cfn-lint", "pip install cfn-lint")
    done = subprocess.run([tool, str(path)], capture_output=True, text=True)
    # 0 errors and 0 warnings: cfn-lint prints nothing and exits 0.
    assert done.returncode == 0 and done.stdout == "", done.stdout + done.stderr


def cfn_template(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


@pytest.mark.parametrize("example", examples_with("aws"))
def test_cloudformation_passes_cfn_lint(built_examples: dict[str, Path], example: str) -> None:
    cfn_lint(built_examples[example] / CLOUDFORMATION)


def test_hostile_cloudformation_passes_cfn_lint(hostile_out: Path) -> None:
    cfn_lint(hostile_out / CLOUDFORMATION)
    text = (hostile_out / CLOUDFORMATION).read_text()
    for word in [*HOSTILE_WORDS[:2], "$HOME"]:
        assert word not in text, word


def policy_statements(resource: dict[str, Any]) -> list[dict[str, Any]]:
    props = resource["Properties"]
    documents = [p["PolicyDocument"] for p in props.get("Policies", [])]
    if "PolicyDocument" in props:
        documents.append(props["PolicyDocument"])
    return [s for d in documents for s in d["Statement"]]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_aws_promotion_and_least_privilege(built_examples: dict[str, Path]) -> None:
    out = built_examples[examples_with("aws")[0]]
    resources = cfn_template(out / CLOUDFORMATION)["Resources"]
    stages = resources["PromotePipeline"]["Properties"]["Stages"]
    names = [s["Name"] for s in stages]
    assert names[:2] == ["Source", "Check"]
    spec = yaml.safe_load((EXAMPLES_BY_NAME[out.name] / "mlops.yaml").read_text())
    envs = spec["environments"]
    assert names[2:] == [f"Promote-{e['name']}" for e in envs]
    for env, stage in zip(envs, stages[2:], strict=True):
        kinds = [a["ActionTypeId"]["Category"] for a in stage["Actions"]]
        gated = env.get("approval", {}).get("required", False)
        assert kinds == (["Approval", "Build"] if gated else ["Build"]), env["name"]
    checked = 0
    for name, resource in resources.items():
        if resource["Type"] not in ("AWS::IAM::Role", "AWS::IAM::ManagedPolicy"):
            continue
        for statement in policy_statements(resource):
            checked += 1
            assert statement["Effect"] == "Allow"
            for action in as_list(statement["Action"]):
                assert "*" not in action, (name, action)
            for target in as_list(statement["Resource"]):
                assert target != "*", name
    assert checked >= 10


def test_cfn_sub_escapes_spec_text_in_metrics_locations(tmp_path: Path) -> None:
    # payments-ml's fraud-detector trains on Kubernetes with an S3 artifact: its gate reads
    # metrics.json there, and the training role may read exactly that object.
    text = (EXAMPLES_BY_NAME["payments-ml"] / "mlops.yaml").read_text()
    uri = "s3://acme-models/fraud-detector/3.2.0/"
    assert f"uri: {uri}\n" in text
    spec = tmp_path / "mlops.yaml"
    spec.write_text(text.replace(f"uri: {uri}\n", f"uri: {uri}${{AWS::AccountId}}/\n", 1))
    out = tmp_path / "out"
    done = run_mlopsc("build", str(spec), "-o", str(out), "--only", "aws")
    assert done.returncode == 0, done.stderr
    cfn_lint(out / CLOUDFORMATION)
    assert "${!AWS::AccountId}/metrics.json" in (out / CLOUDFORMATION).read_text()


def test_build_help_names_every_target() -> None:
    from compiler.targets import REGISTRY

    done = run_mlopsc("build", "--help")
    text = " ".join(done.stdout.split())
    for name in REGISTRY:
        assert f" {name}," in text or f" {name} (" in text, name


def test_azure_annotations_cannot_issue_commands(tmp_path: Path) -> None:
    from compiler.targets.azure import _ANNOTATE

    code = _ANNOTATE.split("python3 - <<'EOF'\n", 1)[1].split("\nEOF\n", 1)[0]
    hostile = "x]\n##vso[task.setvariable variable=A]1;%"
    diagnostics = [
        {"file": "a;b].yaml", "line": 3, "column": 7, "severity": "error", "code": "MLC1",
         "message": hostile},
        {"file": "mlops.yaml", "line": None, "column": None, "severity": "warning",
         "code": "MLC2", "message": "w"},
        {"file": "mlops.yaml", "line": 1, "column": 1, "severity": "note", "code": "N",
         "message": "skipped"},
    ]  # fmt: skip
    (tmp_path / "mlopsc-diagnostics.json").write_text(json.dumps(diagnostics))
    done = subprocess.run(
        ["python3", "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    lines = done.stdout.splitlines()
    assert lines == [
        "##vso[task.logissue type=error;sourcepath=a%3Bb%5D.yaml;linenumber=3;columnnumber=7;"
        "code=MLC1]MLC1: x]%0A##vso[task.setvariable variable=A]1;%AZP25",
        "##vso[task.logissue type=warning;sourcepath=mlops.yaml;linenumber=1;columnnumber=1;"
        "code=MLC2]MLC2: w",
    ]


def test_training_scripts_pass_hostile_words_as_data(tmp_path: Path) -> None:
    from compiler.targets import ci_common as ci

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    # A stand-in for docker: records its arguments and the variables it was asked to pass.
    docker.write_text(
        "#!/usr/bin/env python3\n"
        "import json, os, sys\n"
        "args = sys.argv[1:]\n"
        "env = {k: v for k, v in os.environ.items() if k.startswith('MLOPSC_')}\n"
        "json.dump({'args': args, 'env': env}, open('docker-call.json', 'w'))\n"
    )
    docker.chmod(0o755)
    row = {
        "model": "m",
        "trains_on": "ci",
        "schedule": None,
        "image": "registry.example/train@sha256:" + "0" * 64,
        "command": ["python", *HOSTILE_WORDS],
        "env": {"MLOPSC_MODEL": "m", "MLOPSC_PARAM_NOTE": HOSTILE_PARAM},
        "metrics_uri": "s3://b/$HOME;`id`/metrics.json",
    }
    (tmp_path / "table.json").write_text(json.dumps([row]))
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "MLOPSC_TABLE": "table.json",
        "MLOPSC_MODEL": "m",
    }
    done = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + ci.PREPARE_TRAINING + ci.RUN_TRAINING],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    call = json.loads((tmp_path / "docker-call.json").read_text())
    image_at = call["args"].index(row["image"])
    options, command = call["args"][:image_at], call["args"][image_at + 1 :]
    assert command == row["command"]
    pairs = list(itertools.pairwise(options))
    assert ("-e", "MLOPSC_PARAM_NOTE") in pairs
    assert ("-e", "MLOPSC_METRICS_FILE=/metrics/m.json") in pairs
    assert call["env"]["MLOPSC_PARAM_NOTE"] == HOSTILE_PARAM
    assert (tmp_path / "mlopsc-train/metrics_uri").read_text() == row["metrics_uri"]


def test_cloudbuild_triggers_gate_the_approved_environments(
    built_examples: dict[str, Path],
) -> None:
    example = "recsys"  # metadata.repository is on GitHub; credit-scoring's is not
    assert "cloudbuild" in enabled(EXAMPLES_BY_NAME[example])
    out = built_examples[example]
    spec = yaml.safe_load((EXAMPLES_BY_NAME[example] / "mlops.yaml").read_text())
    folder = out / "cloudbuild/triggers"
    names = sorted(p.name for p in folder.glob("*.yaml"))
    envs = [e["name"] for e in spec["environments"]]
    assert names == sorted(["mlopsc-pr.yaml", *(f"mlopsc-promote-{e}.yaml" for e in envs)])
    for env in spec["environments"]:
        trigger = yaml.safe_load((folder / f"mlopsc-promote-{env['name']}.yaml").read_text())
        gated = env.get("approval", {}).get("required", False)
        assert trigger.get("approvalConfig") == ({"approvalRequired": True} if gated else None)
        assert len(trigger["name"]) <= 64
        # `filename` is a repository path: the output folder, then the config.
        config = Path(trigger["filename"]).relative_to(spec["outputs"].get("directory", "deploy"))
        assert (out / config).is_file()
    assert not (built_examples["credit-scoring"] / "cloudbuild/triggers").exists()


def test_metrics_objects_one_arn_per_bucket() -> None:
    from compiler.targets import ci_common as ci
    from compiler.targets.aws_resources import metrics_objects

    def row(model: str, uri: str, where: str = ci.TRAINED_ON_KUBERNETES) -> ci.Training:
        return ci.Training(model, where, None, "img", (), {}, uri)

    rows = [
        row("a", "s3://b1/models/a/1/metrics.json"),
        row("b", "s3://b1/models/b/2/metrics.json"),
        row("c", "s3://b2/c/${x}/metrics.json"),
        row("d", "s3://b3/d/metrics.json", ci.TRAINED_IN_CI),
        row("e", "gs://b4/e/metrics.json"),
    ]
    assert [arn["Fn::Sub"] for arn in metrics_objects(rows)] == [
        "arn:${AWS::Partition}:s3:::b1/models/a/1/metrics.json",
        "arn:${AWS::Partition}:s3:::b1/models/b/2/metrics.json",
        "arn:${AWS::Partition}:s3:::b2/c/${!x}/metrics.json",
    ]
    many = [row(f"m{i}", f"s3://b1/models/m{i}/metrics.json") for i in range(11)]
    assert [arn["Fn::Sub"] for arn in metrics_objects(many)] == [
        "arn:${AWS::Partition}:s3:::b1/models/*metrics.json"
    ]


CI_IMAGE = "python:3.11@sha256:" + "5d41402abc4b2a76b9719d911017c592" * 2


def test_the_ci_image_runs_every_gitlab_job_and_cloud_build_step(tmp_path: Path) -> None:
    """outputs.ci_image (pinned by digest) is what every GitLab job and every Cloud Build step
    that runs mlopsc uses; the default stays python:3.11."""
    spec = tmp_path / "mlops.yaml"
    spec.write_text(BASE + f"outputs:\n  ci: [gitlab, cloudbuild]\n  ci_image: '{CI_IMAGE}'\n")
    out = tmp_path / "out"
    done = run_mlopsc("build", str(spec), "-o", str(out))
    assert done.returncode == 0, done.stderr
    pipeline = yaml.safe_load((out / "gitlab/mlops.gitlab-ci.yml").read_text())
    images = {job["image"] for job in pipeline.values() if isinstance(job, dict) and "image" in job}
    assert images == {CI_IMAGE}
    builds = sorted((out / "cloudbuild").glob("*.yaml"))
    steps = [step for path in builds for step in yaml.safe_load(path.read_text())["steps"]]
    ours = [step for step in steps if step["id"] != "train"]  # the model's own image trains
    assert ours and {step["name"] for step in ours} == {CI_IMAGE}
    check_jsonschema("vendor.gitlab-ci", [out / "gitlab/mlops.gitlab-ci.yml"])
    check_jsonschema("vendor.cloudbuild", builds)
    plain = tmp_path / "plain.yaml"
    plain.write_text(BASE + "outputs:\n  ci: [gitlab, cloudbuild]\n")
    default = run_mlopsc("build", str(plain), "-o", str(tmp_path / "plain"), "--only", "gitlab")
    assert default.returncode == 0, default.stderr
    text = (tmp_path / "plain/gitlab/mlops.gitlab-ci.yml").read_text()
    assert "image: python:3.11\n" in text and "python:3.11@" not in text


@pytest.mark.parametrize(
    "image", ["$CI_REGISTRY_IMAGE/python:3.11", "python:3.11\nscript: evil", "Python:3.11"]
)
def test_a_ci_image_that_is_no_image_reference_is_refused_where_it_is(
    tmp_path: Path, image: str
) -> None:
    spec = tmp_path / "mlops.yaml"
    spec.write_text(BASE + "outputs:\n  ci_image: " + json.dumps(image) + "\n")
    done = run_mlopsc("validate", str(spec))
    assert done.returncode == 1
    line = len(BASE.splitlines()) + 2
    assert f"mlops.yaml:{line}:" in done.stderr and "ci_image" in done.stderr
