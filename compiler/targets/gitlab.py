"""GitLab target: one pipeline file to `include:` from the project's `.gitlab-ci.yml`, and the
training table its one gate job reads (a model is a row there, not a job).

Jobs use GitLab's default stages (build, test, deploy) so that including the file needs no
`stages:` edit: train in build, gates and spec checks in test, promotion in deploy. Each
pipeline creates only the jobs its trigger needs (docs/ci.md has the table): spec checks on
merge requests and pushes to the default branch, one model's training and gate in a schedule
or a manual pipeline that names it in MLOPSC_TRAIN, promotion on pushes to the default branch.
Spec values are `variables:` (with `$` written `$$`), quoted shell words, or rows of the
training table that Python reads as data; never code.
"""

from __future__ import annotations

from typing import Any

from compiler.artifact import Artifact
from compiler.plan import EnvPlan, Plan
from compiler.render.actions import gitlab_variable, shell_words
from compiler.render.yaml import yaml_text
from compiler.targets import ci_common as ci
from compiler.targets.base import ModuleTarget, ci_system

NAME = "gitlab"
TEMPLATE = ".mlopsc"
TRAIN_TEMPLATE = ".mlopsc-train"
PROMOTE_TEMPLATE = ".mlopsc-promote"
GATE_JOB = "mlopsc-gate"
# Each model's training facts, read by the one gate job (the same table as GitHub's).
TRAINING_TABLE = "gitlab/mlopsc-training.json"

MR = '$CI_PIPELINE_SOURCE == "merge_request_event"'
DEFAULT_BRANCH_PUSH = '$CI_PIPELINE_SOURCE == "push" && $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH'
TRAINING_RUN = '($CI_PIPELINE_SOURCE == "schedule" || $CI_PIPELINE_SOURCE == "web")'

# Turns `mlopsc validate --format json` into GitLab's code-quality (Code Climate) report.
_CODE_QUALITY = """\
import hashlib, json
items = json.load(open("mlopsc-diagnostics.json"))
levels = {"error": "major", "warning": "minor"}
out = [
    {
        "description": f"{d['code']}: {d['message']}",
        "check_name": d["code"],
        "fingerprint": hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest(),
        "severity": levels.get(d["severity"], "info"),
        "location": {"path": d["file"], "lines": {"begin": d["line"] or 1}},
    }
    for d in items
]
json.dump(out, open("gl-code-quality.json", "w"), indent=2)
"""

_INSTALL = 'python -m pip install --disable-pip-version-check "$MLOPSC_REQUIREMENT"'


def variables(values: dict[str, str]) -> dict[str, str]:
    """A `variables:` mapping whose values GitLab passes literally."""
    return {key: gitlab_variable(value) for key, value in values.items()}


def templates(rows: list[ci.Training], image: str) -> dict[str, Any]:
    """The hidden jobs that the jobs extend; the training one only when used. `image`:
    what mlopsc runs in (outputs.ci_image)."""
    out: dict[str, Any] = {
        TEMPLATE: {
            "image": image,
            # Spec checks are superseded by the next push: an auto-cancel may stop them.
            "interruptible": True,
            "timeout": "15m",
            "before_script": [_INSTALL],
        }
    }
    if any(r.trains_on == ci.TRAINED_IN_CI for r in rows):
        out[TRAIN_TEMPLATE] = {
            "stage": "build",
            "interruptible": False,
            "timeout": "6h",
            "before_script": ['mkdir -p "$(dirname "$MLOPSC_METRICS_FILE")"'],
            "artifacts": {"when": "always", "paths": ["metrics/"], "expire_in": "90 days"},
        }
    out[PROMOTE_TEMPLATE] = {
        "image": image,
        "stage": "deploy",
        # Never cancelled halfway: a promotion commits and pushes.
        "interruptible": False,
        "timeout": "15m",
        "resource_group": "mlopsc-promote",
        "before_script": [_INSTALL],
    }
    return out


def spec_rules(plan: Plan) -> list[dict[str, Any]]:
    # Not in schedules or manual pipelines: `changes` is always true without a push.
    changes = ci.watched_paths(plan, everything="**/*", below="**/*")
    return [
        {"if": MR, "changes": changes},
        {"if": DEFAULT_BRANCH_PUSH, "changes": changes},
    ]


def validate_job(plan: Plan) -> dict[str, Any]:
    return {
        "extends": TEMPLATE,
        "stage": "test",
        "script": [
            'mlopsc validate "$MLOPSC_SPEC" --format sarif > gl-mlopsc.sarif || true',
            'mlopsc validate "$MLOPSC_SPEC" --format json > mlopsc-diagnostics.json || true',
            f"python - <<'EOF'\n{_CODE_QUALITY}EOF",
            'mlopsc validate "$MLOPSC_SPEC"',
        ],
        "artifacts": {
            "when": "always",
            "expire_in": "30 days",
            "paths": ["gl-mlopsc.sarif", "gl-code-quality.json"],
            "reports": {"codequality": "gl-code-quality.json"},
        },
        "rules": spec_rules(plan),
    }


def check_job(plan: Plan) -> dict[str, Any]:
    return {
        "extends": TEMPLATE,
        "stage": "test",
        # the whole history: check dates the documents by the spec's last commit
        "variables": {"GIT_DEPTH": "0"},
        "script": ['mlopsc check "$MLOPSC_SPEC" -o "$MLOPSC_OUT"'],
        "rules": spec_rules(plan),
    }


def diff_job(plan: Plan) -> dict[str, Any]:
    return {
        "extends": TEMPLATE,
        "stage": "test",
        "variables": {"GIT_DEPTH": "0"},
        "script": [
            'mlopsc diff "$MLOPSC_SPEC" --base "$CI_MERGE_REQUEST_DIFF_BASE_SHA" --format markdown'
            " > mlopsc-diff.md",
            "cat mlopsc-diff.md",
        ],
        "artifacts": {
            "expose_as": "mlopsc diff",
            "paths": ["mlopsc-diff.md"],
            "expire_in": "30 days",
        },
        "rules": [{"if": MR, "changes": ci.spec_paths(plan)}],
    }


def training_rules(model: str) -> list[dict[str, Any]]:
    # A pipeline schedule, or "Run pipeline", names the model in MLOPSC_TRAIN.
    return [{"if": f'{TRAINING_RUN} && $MLOPSC_TRAIN == "{model}"'}]


def train_job(row: ci.Training) -> dict[str, Any]:
    return {
        "extends": TRAIN_TEMPLATE,
        "image": {"name": row.image, "entrypoint": [""]},
        "variables": {
            **variables(row.env),
            "MLOPSC_METRICS_FILE": f"$CI_PROJECT_DIR/{ci.metrics_file(row.model)}",
        },
        "script": [shell_words(row.command)] if row.command else ["true"],
        "rules": training_rules(row.model),
    }


# The model named in MLOPSC_TRAIN, by its row of the training table: a model trained on
# Kubernetes has the metrics its CronJob wrote fetched; a CI-trained one left them in
# metrics/<model>.json, an artifact of its training job in the build stage before.
_GATE = (
    'export MLOPSC_MODEL="$MLOPSC_TRAIN" MLOPSC_METRICS_FILE="metrics/$MLOPSC_TRAIN.json"\n'
    f'export MLOPSC_TABLE="$MLOPSC_OUT/{TRAINING_TABLE}"\n'
    + ci.PREPARE_TRAINING
    + ci.FETCH_IF_KUBERNETES
    + ci.GATE
    + "\n"
)


def gate_job() -> dict[str, Any]:
    """One gate job for every model: a model is a row of the table, not a job, so the
    pipeline does not grow with the models (GitLab refuses a configuration whose parsed size
    is over 1 to 2 MB)."""
    return {
        "extends": TEMPLATE,
        "stage": "test",
        "interruptible": False,
        "timeout": "30m",
        "script": [_GATE],
        "artifacts": {"when": "always", "paths": ["metrics/"], "expire_in": "90 days"},
        "rules": [{"if": f'{TRAINING_RUN} && $MLOPSC_TRAIN != ""'}],
    }


_PUSH = 'git push "https://oauth2:${MLOPSC_PUSH_TOKEN}@${CI_SERVER_HOST}/${CI_PROJECT_PATH}.git"'
_PROMOTE = ci.promote_script(
    identity='-c user.name="mlopsc" -c user.email="mlopsc@$CI_SERVER_HOST"',
    push=_PUSH,
    branch="$CI_COMMIT_BRANCH",
)

# Fast-forward only: a release branch never loses a commit that was approved before.
_RELEASE = _PUSH + ' "HEAD:refs/heads/$MLOPSC_RELEASE_BRANCH"'


def promote_job(plan: Plan, ep: EnvPlan, previous: str | None) -> dict[str, Any]:
    rule: dict[str, Any] = {"if": DEFAULT_BRANCH_PUSH, "changes": ci.spec_paths(plan)}
    if ep.needs_approval:
        # Blocking manual job: protect the environment to say who may run it.
        rule.update({"when": "manual", "allow_failure": False})
    job: dict[str, Any] = {
        "extends": PROMOTE_TEMPLATE,
        "environment": {"name": ep.name, "action": "start"},
        "variables": {"MLOPSC_ENVIRONMENT": ep.name},
        "script": [_PROMOTE],
        "rules": [rule],
    }
    if ep.release_branch:
        # After the manual, protected job: fast-forward the branch Argo CD syncs this
        # environment from, so what reaches it is exactly the approved commit.
        job["variables"]["MLOPSC_RELEASE_BRANCH"] = ep.release_branch
        job["script"] = [_PROMOTE, _RELEASE]
    canary_env = ci.canary_environment(plan, ep)
    if canary_env is not None:
        # First: nothing is committed or released when the canary before did not pass.
        job["variables"]["MLOPSC_CANARY_ENVIRONMENT"] = gitlab_variable(canary_env)
        job["script"] = [ci.CANARY_CHECK, *job["script"]]
    if previous is not None:
        job["needs"] = [previous]
    return job


# A pipeline schedule, "Run pipeline", or a registry webhook calling the trigger API, each
# with MLOPSC_RESOLVE=true.
RESOLVE_RUN = (
    '($CI_PIPELINE_SOURCE == "schedule" || $CI_PIPELINE_SOURCE == "web" || '
    '$CI_PIPELINE_SOURCE == "trigger" || $CI_PIPELINE_SOURCE == "api") && '
    '$MLOPSC_RESOLVE == "true"'
)
_RESOLVE = f"""\
{{ echo "mlopsc resolve: registry versions moved"; echo; mlopsc resolve "$MLOPSC_SPEC"; }} > /tmp/mlopsc-resolve.txt
cat /tmp/mlopsc-resolve.txt
mlopsc build "$MLOPSC_SPEC" -o "$MLOPSC_OUT"
if [ -z "$(git status --porcelain)" ]; then echo "mlopsc: no registry version moved"; exit 0; fi
git switch -C "$MLOPSC_RESOLVE_BRANCH"
git add -A
git -c user.name="mlopsc" -c user.email="mlopsc@$CI_SERVER_HOST" commit -q -F /tmp/mlopsc-resolve.txt
{_PUSH} --force "HEAD:refs/heads/$MLOPSC_RESOLVE_BRANCH" -o merge_request.create -o "merge_request.target=$CI_DEFAULT_BRANCH" -o "merge_request.title=mlopsc resolve: registry versions moved"
"""


def resolve_job(clients: list[str]) -> dict[str, Any]:
    """`mlopsc resolve`, and a merge request (push options) when a registry version moved:
    a new model version goes through the same review and gates as a spec change."""
    install = [_INSTALL]
    if clients:
        install.append(
            "python -m pip install --disable-pip-version-check "
            + " ".join(f'"{c}"' for c in clients)
        )
    return {
        "extends": TEMPLATE,
        "interruptible": False,
        "timeout": "20m",
        "variables": {"MLOPSC_RESOLVE_BRANCH": "mlopsc/resolve", "GIT_DEPTH": "0"},
        "before_script": install,
        "script": [_RESOLVE],
        "rules": [{"if": RESOLVE_RUN}],
    }


def pipeline(plan: Plan, rows: list[ci.Training]) -> dict[str, Any]:
    top: dict[str, Any] = variables(
        {
            "MLOPSC_REQUIREMENT": plan.mlopsc_requirement,
            "MLOPSC_SPEC": plan.spec_path,
            "MLOPSC_OUT": ci.output_dir(plan),
        }
    )
    if rows:
        top["MLOPSC_TRAIN"] = {
            "value": "",
            "options": ["", *(r.model for r in rows)],
            "description": "Model to train and gate (pipeline schedules and Run pipeline)",
        }
    doc: dict[str, Any] = {
        "variables": top,
        **templates(rows, plan.ci_image),
        "mlopsc-validate": validate_job(plan),
        "mlopsc-check": check_job(plan),
        "mlopsc-diff": diff_job(plan),
    }
    for row in rows:
        if row.trains_on == ci.TRAINED_IN_CI:
            doc[f"mlopsc-train-{row.model}"] = train_job(row)
    if rows:
        doc[GATE_JOB] = gate_job()
    if ci.registries(plan):
        doc["mlopsc-resolve"] = resolve_job(ci.resolve_clients(plan))
    previous: str | None = None
    for ep in plan.environments:
        name = f"mlopsc-promote-{ep.name}"
        doc[name] = promote_job(plan, ep, previous)
        previous = name
    return doc


def render(plan: Plan) -> list[Artifact]:
    rows = ci.trainings(plan)
    text = yaml_text([pipeline(plan, rows)], header=plan.header("#"))
    artifacts = [Artifact("gitlab/mlops.gitlab-ci.yml", text)]
    if rows:
        artifacts.append(Artifact(TRAINING_TABLE, ci.training_table(rows)))
    return artifacts


TARGET = ModuleTarget(NAME, render, enabled_fn=ci_system(NAME))
