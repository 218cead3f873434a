"""Jenkins target: a declarative pipeline (`jenkins/Jenkinsfile`) and its training table.

Stages by cause (docs/ci.md has the table): spec checks when the build's changes touch the
spec, its includes or the output folder (`when { changeset }`), with diagnostics recorded
from SARIF and the `mlopsc diff` on change requests; training and gates when the build names
a model (`MLOPSC_TRAIN`, set by hand or by a parameterized cron); promotion when
`MLOPSC_PROMOTE` is ticked, one stage per environment, each gated one behind an `input` that
only the spec's reviewers may submit.

Spec text only ever lands in single-quoted Groovy strings (compiler/render/groovy.py), which
Groovy never interpolates; scripts read every value from the environment or the table.
"""

from __future__ import annotations

from compiler.artifact import Artifact
from compiler.plan import EnvPlan, Plan
from compiler.render.groovy import groovy_block, groovy_string
from compiler.targets import ci_common as ci
from compiler.targets.base import ModuleTarget, ci_system

NAME = "jenkins"
JENKINSFILE = "jenkins/Jenkinsfile"
TRAINING_TABLE = "jenkins/mlopsc-training.json"
PUSH_CREDENTIALS = "mlopsc-git-push"

_INSTALL = """\
python3 -m venv .mlopsc-venv
. .mlopsc-venv/bin/activate
python -m pip install --disable-pip-version-check "$MLOPSC_REQUIREMENT"
"""

_CHECK = (
    _INSTALL
    + """\
mlopsc validate "$MLOPSC_SPEC" --format sarif > mlopsc.sarif || true
mlopsc validate "$MLOPSC_SPEC"
mlopsc check "$MLOPSC_SPEC" -o "$MLOPSC_OUT"
"""
)

_DIFF = (
    _INSTALL
    + """\
git fetch --no-tags origin "$CHANGE_TARGET"
mlopsc diff "$MLOPSC_SPEC" --base FETCH_HEAD --format markdown > mlopsc-diff.md
cat mlopsc-diff.md
"""
)

_TRAIN = (
    "#!/usr/bin/env bash\n"
    + _INSTALL
    + 'export MLOPSC_MODEL="$MLOPSC_TRAIN"\n'
    + 'export MLOPSC_METRICS_FILE="metrics/$MLOPSC_MODEL.json"\n'
    + ci.TRAIN_AND_GATE
)

_PROMOTE_ONLY = ci.promote_script(
    identity='-c user.name="mlopsc" -c user.email="mlopsc@jenkins.invalid"',
    push="git push origin",
    branch="refs/heads/$BRANCH_NAME",
)
# Fast-forward only: a release branch never loses a commit that was approved before.
_RELEASE = 'git push origin "HEAD:refs/heads/$MLOPSC_RELEASE_BRANCH"\n'


def indent(lines: list[str], depth: int) -> list[str]:
    return [("  " * depth + line) if line else "" for line in lines]


def sh(script: str) -> str:
    return f"sh(script: {groovy_block(script)})"


def changed(plan: Plan) -> list[str]:
    """`when` conditions: the build's changes touch the spec, an include or the outputs."""
    out = ci.output_dir(plan)
    patterns = [*ci.spec_paths(plan), "**" if out == "." else f"{out}/**"]
    return ["anyOf {", *indent([f"changeset {groovy_string(p)}" for p in patterns], 1), "}"]


def check_stages(plan: Plan) -> list[str]:
    return [
        "stage('Validate and check') {",
        "  agent any",
        "  when {",
        "    beforeAgent true",
        *indent(changed(plan), 2),
        "  }",
        "  options { timeout(time: 10, unit: 'MINUTES') }",
        "  steps {",
        f"    {sh(_CHECK)}",
        "  }",
        "  post {",
        "    always {",
        "      recordIssues(enabledForFailure: true,"
        " tool: sarif(pattern: 'mlopsc.sarif', id: 'mlopsc', name: 'mlopsc'))",
        "    }",
        "  }",
        "}",
        "stage('Describe the change') {",
        "  agent any",
        "  when {",
        "    beforeAgent true",
        "    allOf {",
        "      changeRequest()",
        *indent(changed(plan), 3),
        "    }",
        "  }",
        "  options { timeout(time: 10, unit: 'MINUTES') }",
        "  steps {",
        f"    {sh(_DIFF)}",
        "    archiveArtifacts(artifacts: 'mlopsc-diff.md')",
        "  }",
        "}",
    ]


def train_stage(plan: Plan) -> list[str]:
    return [
        "stage('Train and evaluate') {",
        "  agent any",
        "  when {",
        "    beforeAgent true",
        "    expression { return (params.MLOPSC_TRAIN ?: '') != '' }",
        "  }",
        "  options { timeout(time: 6, unit: 'HOURS') }",
        "  environment {",
        f"    MLOPSC_TABLE = {groovy_string(plan.repo_path(TRAINING_TABLE))}",
        "  }",
        "  steps {",
        f"    {sh(_TRAIN)}",
        "  }",
        "  post {",
        "    always {",
        "      archiveArtifacts(artifacts: 'metrics/*.json', allowEmptyArchive: true)",
        "    }",
        "  }",
        "}",
    ]


def promote_stage(plan: Plan, ep: EnvPlan) -> list[str]:
    env = [f"MLOPSC_ENVIRONMENT = {groovy_string(ep.name)}"]
    script = _INSTALL + _PROMOTE_ONLY
    canary_env = ci.canary_environment(plan, ep)
    if canary_env is not None:
        # First (sh stops at the first failure): nothing is committed or released when the
        # canary before did not pass.
        env.append(f"MLOPSC_CANARY_ENVIRONMENT = {groovy_string(canary_env)}")
        script = _INSTALL + ci.CANARY_CHECK + "\n" + _PROMOTE_ONLY
    if ep.release_branch:
        env.append(f"MLOPSC_RELEASE_BRANCH = {groovy_string(ep.release_branch)}")
        script += _RELEASE
    lines = [
        f"stage({groovy_string('Promote to ' + ep.name)}) {{",
        "  agent any",
        "  when {",
        "    beforeAgent true",
        "    beforeInput true",
        "    expression { return params.MLOPSC_PROMOTE == true }",
        "  }",
    ]
    if ep.needs_approval:
        reviewers = ",".join(sorted(ep.env.approval.reviewers))
        lines += [
            # Asked before the stage takes an executor; only the spec's reviewers may submit.
            "  input {",
            f"    message {groovy_string(f'Promote to {ep.name}?')}",
            "    ok 'Promote'",
            f"    submitter {groovy_string(reviewers)}",
            "  }",
        ]
    lines += [
        "  options { timeout(time: 15, unit: 'MINUTES') }",
        "  environment {",
        *indent(env, 2),
        "  }",
        "  steps {",
        f"    withCredentials([gitUsernamePassword(credentialsId: {groovy_string(PUSH_CREDENTIALS)})]) {{",
        f"      {sh(script)}",
        "    }",
        "  }",
        "}",
    ]
    return lines


def jenkinsfile(plan: Plan, rows: list[ci.Training]) -> str:
    lines = ["pipeline {", "  agent none", "  options {"]
    lines += indent(
        [
            "disableConcurrentBuilds()",
            "buildDiscarder(logRotator(numToKeepStr: '100'))",
        ],
        2,
    )
    lines.append("  }")
    lines.append("  parameters {")
    if rows:
        choices = ", ".join(groovy_string(c) for c in ["", *(r.model for r in rows)])
        lines.append(
            f"    choice(name: 'MLOPSC_TRAIN', choices: [{choices}],"
            " description: 'Model to train (or, when it trains on Kubernetes, to gate)')"
        )
    lines.append(
        "    booleanParam(name: 'MLOPSC_PROMOTE', defaultValue: false,"
        " description: 'Promote the spec through the environments')"
    )
    lines.append("  }")
    schedules = [
        f"{r.schedule} % MLOPSC_TRAIN={r.model}"
        for r in rows
        if r.schedule and r.trains_on == ci.TRAINED_IN_CI
    ]
    if schedules:
        # One line per CI-trained model (the Parameterized Scheduler plugin).
        lines += [
            "  triggers {",
            f"    parameterizedCron({groovy_string(chr(10).join(schedules))})",
            "  }",
        ]
    lines += [
        "  environment {",
        f"    MLOPSC_REQUIREMENT = {groovy_string(plan.mlopsc_requirement)}",
        f"    MLOPSC_SPEC = {groovy_string(plan.spec_path)}",
        f"    MLOPSC_OUT = {groovy_string(ci.output_dir(plan))}",
        "  }",
        "  stages {",
    ]
    stages = check_stages(plan)
    if rows:
        stages += train_stage(plan)
    for ep in plan.environments:
        stages += promote_stage(plan, ep)
    lines += indent(stages, 2)
    lines += ["  }", "}"]
    return plan.header("//") + "\n".join(lines) + "\n"


def render(plan: Plan) -> list[Artifact]:
    rows = ci.trainings(plan)
    artifacts = [Artifact(JENKINSFILE, jenkinsfile(plan, rows).encode("utf-8"))]
    if rows:
        artifacts.append(Artifact(TRAINING_TABLE, ci.training_table(rows)))
    return artifacts


TARGET = ModuleTarget(NAME, render, enabled_fn=ci_system(NAME))
