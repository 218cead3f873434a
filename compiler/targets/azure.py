"""Azure Pipelines target: one pipeline (`azure/azure-pipelines.yml`) and its training table.

Stages by trigger (docs/ci.md has the table): spec checks on pushes and pull requests, with
diagnostics as Azure annotations and the `mlopsc diff` summary on the run's summary page;
training and gates on a schedule or a manual run that names a model; promotion on a manual
run, one deployment job per environment whose Azure DevOps environment holds the approvals.
Spec values are pipeline variables that scripts read as environment variables, or rows of
the training table (`azure/mlopsc-training.json`); no spec text is a macro, an expression or
part of a script.
"""

from __future__ import annotations

from typing import Any

from compiler.artifact import Artifact
from compiler.plan import EnvPlan, Plan
from compiler.render.pipelines import azure_path_filter, azure_value
from compiler.render.yaml import yaml_text
from compiler.targets import ci_common as ci
from compiler.targets.base import ModuleTarget, ci_system

NAME = "azure"
PIPELINE = "azure/azure-pipelines.yml"
TRAINING_TABLE = "azure/mlopsc-training.json"
VM_IMAGE = "ubuntu-24.04"
PYTHON = "3.11"
NO_MODEL = "(none)"
SCHEDULED_BRANCH = "main"

ON_CHANGE = "in(variables['Build.Reason'], 'PullRequest', 'IndividualCI', 'BatchedCI')"
TRAINING_RUN = (
    "or(eq(variables['Build.Reason'], 'Schedule'), "
    f"and(eq(variables['Build.Reason'], 'Manual'), ne(variables['MLOPSC_TRAIN'], '{NO_MODEL}')))"
)
PROMOTION_RUN = (
    "and(eq(variables['Build.Reason'], 'Manual'), eq(variables['MLOPSC_PROMOTE'], 'True'))"
)

_INSTALL = 'python -m pip install --disable-pip-version-check "$MLOPSC_REQUIREMENT"'

# `mlopsc validate --format json` as Azure logging commands (annotations on the run and the
# pull request). Every value is escaped as the logging-command syntax requires, so a message
# cannot end the command or start another.
_ANNOTATE = """\
mlopsc validate "$MLOPSC_SPEC" --format json > mlopsc-diagnostics.json || true
python3 - <<'EOF'
import json
def esc(text, prop=False):
    text = str(text).replace("%", "%AZP25").replace("\\r", "%0D").replace("\\n", "%0A")
    return text.replace(";", "%3B").replace("]", "%5D") if prop else text
kinds = {"error": "error", "warning": "warning"}
for d in json.load(open("mlopsc-diagnostics.json", encoding="utf-8")):
    kind = kinds.get(d["severity"])
    if kind is None:
        continue
    props = f"type={kind};sourcepath={esc(d['file'], True)};linenumber={int(d['line'] or 1)}"
    props += f";columnnumber={int(d['column'] or 1)};code={esc(d['code'], True)}"
    print(f"##vso[task.logissue {props}]{esc(d['code'] + ': ' + d['message'])}")
EOF
mlopsc validate "$MLOPSC_SPEC"
"""

_DIFF = """\
git fetch --no-tags origin "$SYSTEM_PULLREQUEST_TARGETBRANCH"
mlopsc diff "$MLOPSC_SPEC" --base FETCH_HEAD --format markdown > mlopsc-diff.md
cat mlopsc-diff.md
echo "##vso[task.uploadsummary]$PWD/mlopsc-diff.md"
"""

# Which models this run trains: those whose schedule fired (the schedule's display name is
# its cron; CI-trained models only), or the one chosen at a manual run. A job matrix.
_SELECT = """\
python3 - <<'EOF'
import json, os
rows = json.load(open(os.environ["MLOPSC_TABLE"], encoding="utf-8"))
if os.environ.get("BUILD_REASON") == "Schedule":
    cron = os.environ.get("BUILD_CRONSCHEDULE_DISPLAYNAME", "")
    picked = [r["model"] for r in rows if r["trains_on"] == "ci" and r["schedule"] == cron]
else:
    picked = [r["model"] for r in rows if r["model"] == os.environ.get("MLOPSC_TRAIN")]
print("training:", " ".join(picked) or "nothing")
matrix = {m.replace("-", "_"): {"MLOPSC_MODEL": m} for m in picked}
print("##vso[task.setvariable variable=models;isOutput=true]" + json.dumps(matrix))
EOF
"""

_IDENTITY = '-c user.name="mlopsc" -c user.email="mlopsc@users.noreply.dev.azure.com"'
_PROMOTE = ci.promote_script(
    identity=_IDENTITY, push="git push origin", branch="$BUILD_SOURCEBRANCH"
)
# Fast-forward only: a release branch never loses a commit that was approved before.
_RELEASE = 'git push origin "HEAD:refs/heads/$MLOPSC_RELEASE_BRANCH"\n'


def ident(name: str) -> str:
    """A stage or job name from a spec name (names hold [a-z0-9-] only, so this is one-to-one)."""
    return name.replace("-", "_")


def checkout(*, fetch_depth: int = 1, persist: bool = False) -> dict[str, Any]:
    return {"checkout": "self", "fetchDepth": fetch_depth, "persistCredentials": persist}


def install_steps() -> list[dict[str, Any]]:
    return [
        {
            "task": "UsePythonVersion@0",
            "displayName": "Set up Python",
            "inputs": {"versionSpec": PYTHON},
        },
        {"bash": _INSTALL, "displayName": "Install mlopsc"},
    ]


def job(name: str, display: str, minutes: int, steps: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "job": name,
        "displayName": display,
        "timeoutInMinutes": minutes,
        "steps": steps,
    }


def check_stage() -> dict[str, Any]:
    validate = job(
        "validate",
        "Validate and check",
        10,
        [
            # the whole history: check dates the documents by the spec's last commit
            checkout(fetch_depth=0),
            *install_steps(),
            {"bash": _ANNOTATE, "displayName": "Validate (annotations)"},
            {
                "bash": 'mlopsc check "$MLOPSC_SPEC" -o "$MLOPSC_OUT"',
                "displayName": "Generated files are in sync",
            },
        ],
    )
    diff = job(
        "diff",
        "Describe the change",
        10,
        [
            checkout(fetch_depth=0),
            *install_steps(),
            {"bash": _DIFF, "displayName": "mlopsc diff (on the run's summary page)"},
        ],
    )
    diff["condition"] = "eq(variables['Build.Reason'], 'PullRequest')"
    return {
        "stage": "check",
        "displayName": "Spec checks",
        "dependsOn": [],
        "condition": ON_CHANGE,
        "jobs": [validate, diff],
    }


def train_stage(plan: Plan) -> dict[str, Any]:
    table = {"MLOPSC_TABLE": azure_value(plan.repo_path(TRAINING_TABLE))}
    select = job(
        "select",
        "Models to train",
        5,
        [
            checkout(),
            {"bash": _SELECT, "name": "pick", "displayName": "Select by schedule or parameter"},
        ],
    )
    select["variables"] = table
    models = "dependencies.select.outputs['pick.models']"
    train = job(
        "train",
        "Train and evaluate",
        360,
        [
            checkout(),
            *install_steps(),
            {"bash": "mkdir -p metrics", "displayName": "Metrics folder"},
            {"bash": ci.TRAIN_AND_GATE, "displayName": "Train (or fetch the metrics) and gate"},
            {
                "publish": "metrics",
                "artifact": "metrics-$(MLOPSC_MODEL)",
                "displayName": "Keep the metrics",
                "condition": "always()",
            },
        ],
    )
    train.update(
        {
            "dependsOn": "select",
            "condition": f"and(succeeded(), ne({models}, '{{}}'))",
            "strategy": {"matrix": f"$[ {models} ]"},
            "variables": {**table, "MLOPSC_METRICS_FILE": "metrics/$(MLOPSC_MODEL).json"},
        }
    )
    return {
        "stage": "train",
        "displayName": "Training and gates",
        "dependsOn": [],
        "condition": TRAINING_RUN,
        "jobs": [select, train],
    }


def promote_stage(plan: Plan, ep: EnvPlan, previous: str | None) -> dict[str, Any]:
    variables = {"MLOPSC_ENVIRONMENT": azure_value(ep.name)}
    steps: list[dict[str, Any]] = [
        checkout(fetch_depth=0, persist=True),
        *install_steps(),
    ]
    canary_env = ci.canary_environment(plan, ep)
    if canary_env is not None:
        # First: nothing is committed or released when the canary before did not pass.
        variables["MLOPSC_CANARY_ENVIRONMENT"] = azure_value(canary_env)
        steps.append(
            {
                "bash": ci.CANARY_CHECK + "\n",
                "displayName": f"Canary check of {canary_env} (its KServe canaries must pass)",
            }
        )
    steps += [
        {
            "bash": _PROMOTE,
            "displayName": f"Commit the rendered manifests of {ep.name} (Argo CD syncs them)",
        },
    ]
    if ep.release_branch:
        variables["MLOPSC_RELEASE_BRANCH"] = azure_value(ep.release_branch)
        steps.append(
            {
                "bash": _RELEASE,
                "displayName": f"Release the approved commit to {ep.name}",
            }
        )
    deployment = {
        "deployment": "promote",
        "displayName": f"Promote to {ep.name}",
        "timeoutInMinutes": 15,
        # An Azure DevOps environment: its approvals and checks enforce the spec's approvals.
        "environment": {"name": azure_value(ep.name)},
        "variables": variables,
        "strategy": {"runOnce": {"deploy": {"steps": steps}}},
    }
    return {
        "stage": f"promote_{ident(ep.name)}",
        "displayName": f"Promote to {ep.name}",
        "dependsOn": [] if previous is None else [previous],
        "condition": PROMOTION_RUN if previous is None else f"and(succeeded(), {PROMOTION_RUN})",
        "jobs": [deployment],
    }


def pipeline(plan: Plan, rows: list[ci.Training]) -> dict[str, Any]:
    # A path filter is a prefix: the output folder's name covers everything below it.
    out = ci.output_dir(plan)
    watched = [*ci.spec_paths(plan), "*" if out == "." else out]
    paths = {"include": [azure_path_filter(p) for p in watched]}
    doc: dict[str, Any] = {
        "trigger": {"batch": True, "paths": paths},
        "pr": {"autoCancel": True, "paths": paths},
    }
    crons = sorted({r.schedule for r in rows if r.schedule and r.trains_on == ci.TRAINED_IN_CI})
    if crons:
        # The display name is the cron itself: the select job matches models by it.
        # Azure has no implicit branch for a schedule: the default branch, named here.
        doc["schedules"] = [
            {
                "cron": c,
                "displayName": c,
                "branches": {"include": [SCHEDULED_BRANCH]},
                "always": True,
            }
            for c in crons
        ]
    parameters: list[dict[str, Any]] = []
    if rows:
        parameters.append(
            {
                "name": "model",
                "displayName": "Model to train (or, when it trains on Kubernetes, to gate)",
                "type": "string",
                "default": NO_MODEL,
                "values": [NO_MODEL, *(r.model for r in rows)],
            }
        )
    parameters.append(
        {
            "name": "promote",
            "displayName": "Promote the spec through the environments",
            "type": "boolean",
            "default": False,
        }
    )
    doc["parameters"] = parameters
    variables = {
        "MLOPSC_REQUIREMENT": azure_value(plan.mlopsc_requirement),
        "MLOPSC_SPEC": azure_value(plan.spec_path),
        "MLOPSC_OUT": azure_value(ci.output_dir(plan)),
        "MLOPSC_PROMOTE": "${{ parameters.promote }}",
    }
    if rows:
        variables["MLOPSC_TRAIN"] = "${{ parameters.model }}"
    doc["variables"] = variables
    doc["pool"] = {"vmImage": VM_IMAGE}
    stages = [check_stage()]
    if rows:
        stages.append(train_stage(plan))
    previous: str | None = None
    for ep in plan.environments:
        stage = promote_stage(plan, ep, previous)
        stages.append(stage)
        previous = stage["stage"]
    doc["stages"] = stages
    return doc


def scalars_as_text(data: Any) -> Any:
    """Azure Pipelines reads every scalar as a string (its schema says so): write them so."""
    if isinstance(data, dict):
        return {key: scalars_as_text(value) for key, value in data.items()}
    if isinstance(data, list):
        return [scalars_as_text(value) for value in data]
    if isinstance(data, bool):
        return "true" if data else "false"
    if isinstance(data, int):
        return str(data)
    return data


def render(plan: Plan) -> list[Artifact]:
    rows = ci.trainings(plan)
    doc = scalars_as_text(pipeline(plan, rows))
    artifacts = [Artifact(PIPELINE, yaml_text([doc], header=plan.header("#")))]
    if rows:
        artifacts.append(Artifact(TRAINING_TABLE, ci.training_table(rows)))
    return artifacts


TARGET = ModuleTarget(NAME, render, enabled_fn=ci_system(NAME))
