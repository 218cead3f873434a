"""GitLab target: one pipeline file to `include:` from the project's `.gitlab-ci.yml`.

Jobs use GitLab's default stages (build, test, deploy) so that including the file needs no
`stages:` edit: train in build, gates and spec checks in test, promotion in deploy.
"""

from __future__ import annotations

import shlex
from typing import Any

from compiler.artifact import Artifact
from compiler.plan import EnvPlan, Plan
from compiler.render.yaml import yaml_text
from compiler.spec.models import Model
from compiler.targets.base import ModuleTarget

NAME = "gitlab"
IMAGE = "python:3.11"  # the full image: promotion needs git
TEMPLATE = ".mlopsc"

MR = '$CI_PIPELINE_SOURCE == "merge_request_event"'
DEFAULT_BRANCH = "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"

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


def out_dir(plan: Plan) -> str:
    return plan.index.project.outputs.directory.strip("/")


def spec_changes(plan: Plan) -> list[str]:
    return [plan.spec_path, *plan.index.project.include]


def template() -> dict[str, Any]:
    return {
        "image": IMAGE,
        "interruptible": True,
        "timeout": "15m",
        "before_script": [
            'python -m pip install --disable-pip-version-check "$MLOPSC_REQUIREMENT"'
        ],
    }


def spec_rules(plan: Plan) -> list[dict[str, Any]]:
    changes = [*spec_changes(plan), "**/*" if out_dir(plan) == "." else f"{out_dir(plan)}/**/*"]
    return [
        {"if": MR, "changes": changes},
        {"if": DEFAULT_BRANCH, "changes": changes},
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
        "rules": [{"if": MR, "changes": spec_changes(plan)}],
    }


def train_rules(model: Model) -> list[dict[str, Any]]:
    # A pipeline schedule picks the model with MLOPSC_TRAIN; a manual run offers every model.
    return [
        {"if": f'$CI_PIPELINE_SOURCE == "schedule" && $MLOPSC_TRAIN == "{model.name}"'},
        {"if": '$CI_PIPELINE_SOURCE == "web"', "when": "manual", "allow_failure": True},
    ]


def train_job(model: Model) -> dict[str, Any]:
    training = model.training
    assert training is not None
    command = shlex.join(training.command) if training.command else "true"
    return {
        "stage": "build",
        "image": {"name": training.image, "entrypoint": [""]},
        "timeout": "6h",
        "variables": {
            "MLOPSC_MODEL": model.name,
            "MLOPSC_MODEL_VERSION": model.version,
            "MLOPSC_METRICS_FILE": f"metrics/{model.name}.json",
        },
        "script": ["mkdir -p metrics", command],
        "artifacts": {"when": "always", "paths": ["metrics/"], "expire_in": "90 days"},
        "rules": train_rules(model),
    }


def gate_job(model: Model) -> dict[str, Any]:
    return {
        "extends": TEMPLATE,
        "stage": "test",
        "needs": [{"job": f"mlopsc-train-{model.name}", "artifacts": True}],
        "variables": {"MLOPSC_MODEL": model.name},
        "script": [
            f'mlopsc gate "$MLOPSC_SPEC" --model "$MLOPSC_MODEL" --metrics metrics/{model.name}.json'
        ],
        "rules": [{k: v for k, v in r.items() if k == "if"} for r in train_rules(model)],
    }


_PROMOTE = """\
mlopsc build "$MLOPSC_SPEC" -o "$MLOPSC_OUT" --only kubernetes,argocd
git add -- "$MLOPSC_OUT/kubernetes/$MLOPSC_ENVIRONMENT" "$MLOPSC_OUT/argocd/$MLOPSC_ENVIRONMENT.yaml" "$MLOPSC_OUT/mlopsc.lock.json"
if git diff --cached --quiet; then
  echo "manifests of $MLOPSC_ENVIRONMENT are up to date"
else
  git -c user.name="mlopsc" -c user.email="mlopsc@$CI_SERVER_HOST" commit -m "promote to $MLOPSC_ENVIRONMENT"
  git push "https://oauth2:${MLOPSC_PUSH_TOKEN}@${CI_SERVER_HOST}/${CI_PROJECT_PATH}.git" "HEAD:$CI_COMMIT_BRANCH"
fi
"""


# Fast-forward only: a release branch never loses a commit that was approved before.
_RELEASE = (
    'git push "https://oauth2:${MLOPSC_PUSH_TOKEN}@${CI_SERVER_HOST}/${CI_PROJECT_PATH}.git" '
    '"HEAD:refs/heads/$MLOPSC_RELEASE_BRANCH"'
)


def promote_job(plan: Plan, ep: EnvPlan, previous: str | None) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "if": f'{DEFAULT_BRANCH} && $CI_PIPELINE_SOURCE == "push"',
        "changes": spec_changes(plan),
    }
    if ep.needs_approval:
        # Blocking manual job: protect the environment to say who may run it.
        rule.update({"when": "manual", "allow_failure": False})
    job: dict[str, Any] = {
        "extends": TEMPLATE,
        "stage": "deploy",
        "environment": {"name": ep.name, "action": "start"},
        "resource_group": "mlopsc-promote",
        "variables": {"MLOPSC_ENVIRONMENT": ep.name},
        "script": [_PROMOTE],
        "rules": [rule],
    }
    if ep.release_branch:
        # After the manual, protected job: fast-forward the branch Argo CD syncs this
        # environment from, so what reaches it is exactly the approved commit.
        job["variables"]["MLOPSC_RELEASE_BRANCH"] = ep.release_branch
        job["script"] = [_PROMOTE, _RELEASE]
    if previous is not None:
        job["needs"] = [previous]
    return job


def pipeline(plan: Plan) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "variables": {
            "MLOPSC_REQUIREMENT": plan.mlopsc_requirement,
            "MLOPSC_SPEC": plan.spec_path,
            "MLOPSC_OUT": out_dir(plan),
        },
        TEMPLATE: template(),
        "mlopsc-validate": validate_job(plan),
        "mlopsc-check": check_job(plan),
        "mlopsc-diff": diff_job(plan),
    }
    for model in plan.models:
        if model.training is not None:
            doc[f"mlopsc-train-{model.name}"] = train_job(model)
            doc[f"mlopsc-gate-{model.name}"] = gate_job(model)
    previous: str | None = None
    for ep in plan.environments:
        name = f"mlopsc-promote-{ep.name}"
        doc[name] = promote_job(plan, ep, previous)
        previous = name
    return doc


def render(plan: Plan) -> list[Artifact]:
    return [
        Artifact("gitlab/mlops.gitlab-ci.yml", yaml_text([pipeline(plan)], header=plan.header("#")))
    ]


TARGET = ModuleTarget(NAME, render)
