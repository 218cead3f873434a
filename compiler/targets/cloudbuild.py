"""Google Cloud Build target: one build config per kind of run, each run by its own trigger.

`cloudbuild/mlopsc-pr.yaml` checks the spec on pull requests and pushes;
`cloudbuild/mlopsc-train-<model>.yaml` trains (in CI: the model's image is the step) or
fetches the metrics of a Kubernetes training run, and gates; `cloudbuild/mlopsc-promote-<env>.yaml`
commits one environment's manifests. Approvals are a trigger setting (Require approval), not
part of a build config: docs/ci.md lists the triggers to create.

Cloud Build substitutes `$NAME` and `${NAME}` in every string of a step, so every `$` that is
not a substitution is written `$$` (compiler/render/pipelines.py), spec values and scripts
alike; a step's command is an argument list, never a shell string.
"""

from __future__ import annotations

import re
from typing import Any

from compiler.artifact import Artifact
from compiler.plan import EnvPlan, Plan
from compiler.render.pipelines import cloudbuild_value
from compiler.render.yaml import yaml_text
from compiler.targets import ci_common as ci
from compiler.targets.base import ModuleTarget, ci_system

NAME = "cloudbuild"
FOLDER = "cloudbuild"
PUSH_SECRET = "mlopsc-push-token"
TRIGGERED_BRANCH = "main"
# metadata.repository of a GitHub repository: owner and name (the only triggers written).
_GITHUB = re.compile(r"^(?:https://)?github\.com/([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+?)(?:\.git)?/?$")

_INSTALL = 'python -m pip install --disable-pip-version-check "$MLOPSC_REQUIREMENT"\n'

_CHECK = (
    _INSTALL
    + ci.UNSHALLOW
    + """\
mlopsc validate "$MLOPSC_SPEC"
mlopsc check "$MLOPSC_SPEC" -o "$MLOPSC_OUT"
"""
)

# Pull-request builds only (_BASE_BRANCH is set by pull-request triggers).
_DIFF = (
    _INSTALL
    + """\
if [ -z "$MLOPSC_BASE_BRANCH" ]; then
  echo "not a pull request: nothing to compare"
  exit 0
fi
git fetch --no-tags origin "$MLOPSC_BASE_BRANCH"
mlopsc diff "$MLOPSC_SPEC" --base FETCH_HEAD --format markdown
"""
)

_GATE = _INSTALL + ci.GATE + "\n"
_FETCH_AND_GATE = _INSTALL + ci.FETCH_METRICS + ci.GATE + "\n"

_PUSH = (
    'git -c "http.extraheader=AUTHORIZATION: basic '
    '$(printf \'x-access-token:%s\' "$MLOPSC_PUSH_TOKEN" | base64 -w0)" push "$MLOPSC_GIT_URL"'
)
_PROMOTE_ONLY = (
    ': "${MLOPSC_GIT_URL:?set the substitution _MLOPSC_GIT_URL on the trigger}"\n'
    + ci.promote_script(
        identity='-c user.name="mlopsc" -c user.email="mlopsc@cloudbuild.invalid"',
        push=_PUSH,
        branch="refs/heads/$MLOPSC_BRANCH",
    )
)
# Fast-forward only: a release branch never loses a commit that was approved before.
_RELEASE = _PUSH + ' "HEAD:refs/heads/$MLOPSC_RELEASE_BRANCH"\n'


def env(values: dict[str, str]) -> list[str]:
    """A step's `env` list, passed literally."""
    return [f"{key}={cloudbuild_value(value)}" for key, value in values.items()]


def common_env(plan: Plan) -> dict[str, str]:
    return {
        "MLOPSC_REQUIREMENT": plan.mlopsc_requirement,
        "MLOPSC_SPEC": plan.spec_path,
        "MLOPSC_OUT": ci.output_dir(plan),
    }


def bash_step(step_id: str, script: str, values: dict[str, str], *, image: str) -> dict[str, Any]:
    """A step that runs a constant script in bash, the spec's values in its environment, in
    `image` (outputs.ci_image: Python with git)."""
    return {
        "id": step_id,
        "name": cloudbuild_value(image),
        "entrypoint": "bash",
        "args": ["-c", cloudbuild_value("set -euo pipefail\n" + script)],
        "env": env(values),
    }


def build(steps: list[dict[str, Any]], seconds: int, **extra: Any) -> dict[str, Any]:
    return {
        "steps": steps,
        "timeout": f"{seconds}s",
        # Built-in substitutions a trigger kind does not set are empty, not an error.
        "options": {"substitutionOption": "ALLOW_LOOSE", "logging": "CLOUD_LOGGING_ONLY"},
        **extra,
    }


def pr_build(plan: Plan) -> dict[str, Any]:
    base = common_env(plan)
    check = bash_step("check", _CHECK, base, image=plan.ci_image)
    diff = bash_step("diff", _DIFF, base, image=plan.ci_image)
    # A deliberate substitution: the pull request's base branch.
    diff["env"].append("MLOPSC_BASE_BRANCH=$_BASE_BRANCH")
    diff["waitFor"] = ["-"]
    return build([check, diff], 900)


def train_build(plan: Plan, row: ci.Training) -> dict[str, Any]:
    base = {**common_env(plan), "MLOPSC_MODEL": row.model}
    metrics = f"/workspace/{ci.metrics_file(row.model)}"
    if row.trains_on == ci.TRAINED_ON_KUBERNETES:
        values = {**base, "MLOPSC_METRICS_FILE": metrics, "MLOPSC_METRICS_URI": row.metrics_uri}
        return build(
            [bash_step("fetch-and-gate", _FETCH_AND_GATE, values, image=plan.ci_image)], 1800
        )
    prepare = bash_step(
        "metrics-folder", "mkdir -p metrics && chmod 0777 metrics\n", {}, image=plan.ci_image
    )
    del prepare["env"]
    # The model's image is the step; its command, the step's arguments, passed as written.
    train: dict[str, Any] = {
        "id": "train",
        "name": cloudbuild_value(row.image),
        "env": env({**row.env, "MLOPSC_METRICS_FILE": metrics}),
    }
    if row.command:
        train["args"] = [cloudbuild_value(word) for word in row.command]
    gate = bash_step("gate", _GATE, {**base, "MLOPSC_METRICS_FILE": metrics}, image=plan.ci_image)
    return build([prepare, train, gate], 21600)


def promote_build(plan: Plan, ep: EnvPlan) -> dict[str, Any]:
    values = {**common_env(plan), "MLOPSC_ENVIRONMENT": ep.name}
    script = _INSTALL + _PROMOTE_ONLY
    canary_env = ci.canary_environment(plan, ep)
    if canary_env is not None:
        # First (set -e): nothing is committed or released when the canary before did not pass.
        values["MLOPSC_CANARY_ENVIRONMENT"] = canary_env
        script = _INSTALL + ci.CANARY_CHECK + "\n" + _PROMOTE_ONLY
    if ep.release_branch:
        values["MLOPSC_RELEASE_BRANCH"] = ep.release_branch
        script += _RELEASE
    step = bash_step("promote", script, values, image=plan.ci_image)
    # Deliberate substitutions: the branch built, and the repository URL set on the trigger.
    step["env"] += ["MLOPSC_BRANCH=$BRANCH_NAME", "MLOPSC_GIT_URL=$_MLOPSC_GIT_URL"]
    step["secretEnv"] = ["MLOPSC_PUSH_TOKEN"]
    secret = f"projects/$PROJECT_ID/secrets/{PUSH_SECRET}/versions/latest"
    return build(
        [step],
        900,
        availableSecrets={"secretManager": [{"versionName": secret, "env": "MLOPSC_PUSH_TOKEN"}]},
    )


def github_repository(plan: Plan) -> tuple[str, str] | None:
    """(owner, name) when metadata.repository names a GitHub repository."""
    found = _GITHUB.match(plan.metadata.repository or "")
    return (found.group(1), found.group(2)) if found else None


def triggers(plan: Plan, owner: str, name: str) -> list[Artifact]:
    """Trigger definitions for `gcloud builds triggers import`: the checks on pull requests,
    and a promotion per environment on pushes to the branch, behind an approval where the
    spec requires one (approvals are a trigger setting, not part of a build config)."""
    header = plan.header("#")
    github = {"owner": owner, "name": name}
    out = ci.output_dir(plan)
    changed = [*ci.spec_paths(plan), "**" if out == "." else f"{out}/**"]
    pr = {
        "name": "mlopsc-pr",
        "description": "mlopsc: validate, check and diff the spec of a pull request",
        "github": {**github, "pullRequest": {"branch": ".*"}},
        "includedFiles": changed,
        "filename": plan.repo_path(f"{FOLDER}/mlopsc-pr.yaml"),
    }
    files = [Artifact(f"{FOLDER}/triggers/mlopsc-pr.yaml", yaml_text([pr], header=header))]
    for ep in plan.environments:
        trigger: dict[str, Any] = {
            "name": f"mlopsc-promote-{ep.name}",
            "description": f"mlopsc: promote the spec to {ep.name}",
            "github": {**github, "push": {"branch": f"^{TRIGGERED_BRANCH}$"}},
            "includedFiles": list(ci.spec_paths(plan)),
            "filename": plan.repo_path(f"{FOLDER}/mlopsc-promote-{ep.name}.yaml"),
            "substitutions": {"_MLOPSC_GIT_URL": f"https://github.com/{owner}/{name}.git"},
        }
        if ep.needs_approval:
            trigger["approvalConfig"] = {"approvalRequired": True}
        files.append(
            Artifact(
                f"{FOLDER}/triggers/mlopsc-promote-{ep.name}.yaml",
                yaml_text([trigger], header=header),
            )
        )
    return files


def render(plan: Plan) -> list[Artifact]:
    header = plan.header("#")
    artifacts = [Artifact(f"{FOLDER}/mlopsc-pr.yaml", yaml_text([pr_build(plan)], header=header))]
    for row in ci.trainings(plan):
        artifacts.append(
            Artifact(
                f"{FOLDER}/mlopsc-train-{row.model}.yaml",
                yaml_text([train_build(plan, row)], header=header),
            )
        )
    for ep in plan.environments:
        artifacts.append(
            Artifact(
                f"{FOLDER}/mlopsc-promote-{ep.name}.yaml",
                yaml_text([promote_build(plan, ep)], header=header),
            )
        )
    repository = github_repository(plan)
    if repository is not None:
        artifacts += triggers(plan, *repository)
    return artifacts


TARGET = ModuleTarget(NAME, render, enabled_fn=ci_system(NAME))
