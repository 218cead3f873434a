"""AWS target: one CloudFormation template (`aws/pipeline.yaml`) and its training table.

The stack holds three CodePipeline V2 pipelines on a CodeStar (CodeConnections) source:
`<stack>-change` runs on pull requests (validate, check, `mlopsc diff`), `<stack>-promote` on
pushes to the branch (check, then one stage per environment, a manual approval first where the
spec requires one), `<stack>-train` when started with the variable MLOPSC_MODEL (training or
metrics fetch, then `mlopsc gate`). Each CodeBuild project has its own role with only what it
uses; buildspecs are inline and constant. Spec values are CodeBuild environment variables
(plain strings, which CloudFormation never evaluates) or rows of the training table; the one
place spec text meets `Fn::Sub`, an S3 metrics location in an IAM policy, escapes `${`.
"""

from __future__ import annotations

import json
from typing import Any

from compiler.artifact import Artifact
from compiler.plan import EnvPlan, Plan
from compiler.render.yaml import yaml_text
from compiler.targets import ci_common as ci
from compiler.targets.aws_resources import (
    arn_of,
    artifact_bucket,
    connection_statement,
    log_statement,
    metrics_objects,
    parameters,
    read_artifacts_statement,
    ref,
    role,
    sub,
)
from compiler.targets.base import ModuleTarget, ci_system

NAME = "aws"
TEMPLATE = "aws/pipeline.yaml"
TRAINING_TABLE = "aws/mlopsc-training.json"
IMAGE = "aws/codebuild/standard:7.0"  # Ubuntu 22.04; Python 3.11 via runtime-versions
PYTHON = "3.11"

_PUSH = (
    'git -c "http.extraheader=AUTHORIZATION: basic '
    '$(printf \'x-access-token:%s\' "$MLOPSC_PUSH_TOKEN" | base64 -w0)" push "$MLOPSC_GIT_URL"'
)

_CHECK = (
    ci.UNSHALLOW
    + """\
mlopsc validate "$MLOPSC_SPEC"
mlopsc check "$MLOPSC_SPEC" -o "$MLOPSC_OUT"
if [ "${MLOPSC_DIFF:-}" = true ]; then
  git fetch --no-tags origin "$MLOPSC_BRANCH"
  mlopsc diff "$MLOPSC_SPEC" --base FETCH_HEAD --format markdown
fi
"""
)

_TRAIN = 'export MLOPSC_METRICS_FILE="metrics/$MLOPSC_MODEL.json"\n' + ci.TRAIN_AND_GATE

# One project promotes to every environment: a stage whose environment follows a KServe canary
# names it in MLOPSC_CANARY_ENVIRONMENT, checked first (set -e: a failure stops the build
# before it commits or releases anything).
_PROMOTE = (
    (f'if [ -n "${{MLOPSC_CANARY_ENVIRONMENT:-}}" ]; then\n  {ci.CANARY_CHECK}\nfi\n')
    + ci.promote_script(
        identity='-c user.name="mlopsc" -c user.email="mlopsc@codebuild.invalid"',
        push=_PUSH,
        branch="refs/heads/$MLOPSC_BRANCH",
    )
    + (
        'if [ -n "${MLOPSC_RELEASE_BRANCH:-}" ]; then\n'
        f'  {_PUSH} "HEAD:refs/heads/$MLOPSC_RELEASE_BRANCH"\n'
        "fi\n"
    )
)


def buildspec(script: str) -> str:
    """An inline buildspec: install the pinned mlopsc, then run one constant bash script."""
    spec = {
        "version": 0.2,
        "env": {"shell": "bash"},
        "phases": {
            "install": {
                "runtime-versions": {"python": PYTHON},
                "commands": [
                    'python -m pip install --disable-pip-version-check "$MLOPSC_REQUIREMENT"'
                ],
            },
            "build": {"commands": ["set -euo pipefail\n" + script]},
        },
    }
    return yaml_text([spec]).decode("utf-8")


def plain(values: dict[str, str]) -> list[dict[str, Any]]:
    return [{"Name": k, "Type": "PLAINTEXT", "Value": v} for k, v in values.items()]


def action_env(values: dict[str, str]) -> str:
    """A CodeBuild action's EnvironmentVariables (a JSON string), passed literally."""
    return json.dumps(
        [{"name": k, "value": v, "type": "PLAINTEXT"} for k, v in values.items()],
        separators=(",", ":"),
    )


def project_name(kind: str) -> dict[str, str]:
    return sub(f"${{AWS::StackName}}-{kind}")


def project(
    kind: str,
    role_name: str,
    script: str,
    env: list[dict[str, Any]],
    minutes: int,
    *,
    docker: bool,
) -> dict[str, Any]:
    return {
        "Type": "AWS::CodeBuild::Project",
        "Properties": {
            "Name": project_name(kind),
            "Description": f"mlopsc {kind}",
            "ServiceRole": arn_of(role_name),
            "Artifacts": {"Type": "CODEPIPELINE"},
            "Source": {"Type": "CODEPIPELINE", "BuildSpec": buildspec(script)},
            "Environment": {
                "Type": "LINUX_CONTAINER",
                "ComputeType": "BUILD_GENERAL1_SMALL",
                "Image": IMAGE,
                # Docker (for training in CI) needs a privileged build container.
                "PrivilegedMode": docker,
                "EnvironmentVariables": env,
            },
            "TimeoutInMinutes": minutes,
        },
    }


def common_env(plan: Plan) -> dict[str, str]:
    return {
        "MLOPSC_REQUIREMENT": plan.mlopsc_requirement,
        "MLOPSC_SPEC": plan.spec_path,
        "MLOPSC_OUT": ci.output_dir(plan),
    }


def source_action(*, triggered: bool) -> dict[str, Any]:
    configuration: dict[str, Any] = {
        "ConnectionArn": ref("ConnectionArn"),
        "FullRepositoryId": ref("FullRepositoryId"),
        "BranchName": ref("BranchName"),
        # A git clone, not a zip: check and diff read the history.
        "OutputArtifactFormat": "CODEBUILD_CLONE_REF",
    }
    if not triggered:
        # Started by hand (or a schedule) only, never by a push.
        configuration["DetectChanges"] = False
    return {
        "Name": "Source",
        "ActionTypeId": {
            "Category": "Source",
            "Owner": "AWS",
            "Provider": "CodeStarSourceConnection",
            "Version": "1",
        },
        "Configuration": configuration,
        "OutputArtifacts": [{"Name": "Source"}],
        "RunOrder": 1,
    }


def build_action(
    name: str, project_ref: str, env: dict[str, str] | None = None, run_order: int = 1
) -> dict[str, Any]:
    configuration: dict[str, Any] = {"ProjectName": ref(project_ref)}
    if env:
        configuration["EnvironmentVariables"] = action_env(env)
    return {
        "Name": name,
        "ActionTypeId": {
            "Category": "Build",
            "Owner": "AWS",
            "Provider": "CodeBuild",
            "Version": "1",
        },
        "Configuration": configuration,
        "InputArtifacts": [{"Name": "Source"}],
        "RunOrder": run_order,
    }


def stage_name(ep: EnvPlan) -> str:
    return f"Promote-{ep.name}"


def pipeline(
    name: str,
    stages: list[dict[str, Any]],
    *,
    mode: str,
    triggers: list[dict[str, Any]] | None = None,
    variables: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "Name": sub(f"${{AWS::StackName}}-{name}"),
        "PipelineType": "V2",
        "ExecutionMode": mode,
        "RoleArn": arn_of("PipelineRole"),
        "ArtifactStore": {"Type": "S3", "Location": ref("ArtifactBucket")},
        "Stages": stages,
    }
    if triggers:
        properties["Triggers"] = triggers
    if variables:
        properties["Variables"] = variables
    return {"Type": "AWS::CodePipeline::Pipeline", "Properties": properties}


def trigger(kind: str, filters: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "ProviderType": "CodeStarSourceConnection",
            "GitConfiguration": {"SourceActionName": "Source", kind: [filters]},
        }
    ]


def template(plan: Plan, rows: list[ci.Training]) -> dict[str, Any]:
    base = common_env(plan)
    branch = {"Name": "MLOPSC_BRANCH", "Type": "PLAINTEXT", "Value": ref("BranchName")}
    gated = [ep for ep in plan.environments if ep.needs_approval]
    resources: dict[str, Any] = artifact_bucket()
    projects = ["CheckProject", "PromoteProject"] + (["TrainProject"] if rows else [])
    pipeline_statements: list[dict[str, Any]] = [
        {
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"],
            "Resource": sub("${ArtifactBucket.Arn}/*"),
        },
        {
            "Effect": "Allow",
            "Action": ["s3:GetBucketVersioning", "s3:GetBucketLocation"],
            "Resource": arn_of("ArtifactBucket"),
        },
        connection_statement(),
        {
            "Effect": "Allow",
            "Action": ["codebuild:StartBuild", "codebuild:BatchGetBuilds"],
            "Resource": [arn_of(p) for p in projects],
        },
    ]
    if gated:
        resources["ApprovalTopic"] = {
            "Type": "AWS::SNS::Topic",
            "Properties": {
                "DisplayName": "mlopsc approvals",
                "KmsMasterKeyId": "alias/aws/sns",
            },
        }
        pipeline_statements.append(
            {"Effect": "Allow", "Action": "sns:Publish", "Resource": ref("ApprovalTopic")}
        )
    resources["PipelineRole"] = role(
        "mlopsc pipelines: source, artifacts, start the mlopsc builds",
        "codepipeline.amazonaws.com",
        pipeline_statements,
    )
    resources["CheckRole"] = role(
        "mlopsc check builds",
        "codebuild.amazonaws.com",
        [log_statement("check"), read_artifacts_statement(), connection_statement()],
    )
    resources["CheckProject"] = project(
        "check", "CheckRole", _CHECK, [*plain(base), branch], 15, docker=False
    )
    resources["PromoteRole"] = role(
        "mlopsc promotion builds: read the push token",
        "codebuild.amazonaws.com",
        [
            log_statement("promote"),
            read_artifacts_statement(),
            connection_statement(),
            {
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": ref("PushTokenSecretArn"),
            },
        ],
    )
    resources["PromoteProject"] = project(
        "promote",
        "PromoteRole",
        _PROMOTE,
        [
            *plain(base),
            branch,
            {"Name": "MLOPSC_GIT_URL", "Type": "PLAINTEXT", "Value": ref("GitRemoteUrl")},
            {
                "Name": "MLOPSC_PUSH_TOKEN",
                "Type": "SECRETS_MANAGER",
                "Value": ref("PushTokenSecretArn"),
            },
        ],
        15,
        docker=False,
    )
    if rows:
        train_statements = [
            log_statement("train"),
            read_artifacts_statement(),
            connection_statement(),
        ]
        objects = metrics_objects(rows)
        if objects:
            train_statements.append(
                {"Effect": "Allow", "Action": "s3:GetObject", "Resource": objects}
            )
        resources["TrainRole"] = role(
            "mlopsc training and gates: read the metrics of Kubernetes training runs",
            "codebuild.amazonaws.com",
            train_statements,
        )
        table = {"MLOPSC_TABLE": plan.repo_path(TRAINING_TABLE)}
        resources["TrainProject"] = project(
            "train",
            "TrainRole",
            _TRAIN,
            plain({**base, **table}),
            360,
            docker=any(r.trains_on == ci.TRAINED_IN_CI for r in rows),
        )
    out = ci.output_dir(plan)
    paths = {"Includes": [*ci.spec_paths(plan), "**" if out == "." else f"{out}/**"]}
    branches = {"Includes": [ref("BranchName")]}
    resources["ChangePipeline"] = pipeline(
        "change",
        [
            {"Name": "Source", "Actions": [source_action(triggered=True)]},
            {
                "Name": "Check",
                "Actions": [build_action("Check", "CheckProject", {"MLOPSC_DIFF": "true"})],
            },
        ],
        mode="SUPERSEDED",
        triggers=trigger(
            "PullRequest",
            {"Events": ["OPEN", "UPDATED"], "Branches": branches, "FilePaths": paths},
        ),
    )
    promote_stages: list[dict[str, Any]] = [
        {"Name": "Source", "Actions": [source_action(triggered=True)]},
        {"Name": "Check", "Actions": [build_action("Check", "CheckProject")]},
    ]
    for ep in plan.environments:
        env = {"MLOPSC_ENVIRONMENT": ep.name}
        if ep.release_branch:
            env["MLOPSC_RELEASE_BRANCH"] = ep.release_branch
        canary_env = ci.canary_environment(plan, ep)
        if canary_env is not None:
            env["MLOPSC_CANARY_ENVIRONMENT"] = canary_env
        actions: list[dict[str, Any]] = []
        if ep.needs_approval:
            reviewers = ", ".join(sorted(ep.env.approval.reviewers))
            actions.append(
                {
                    "Name": "Approve",
                    "ActionTypeId": {
                        "Category": "Approval",
                        "Owner": "AWS",
                        "Provider": "Manual",
                        "Version": "1",
                    },
                    "Configuration": {
                        "NotificationArn": ref("ApprovalTopic"),
                        "CustomData": f"Promote to {ep.name}; approvers: {reviewers}",
                    },
                    "RunOrder": 1,
                }
            )
        actions.append(build_action("Promote", "PromoteProject", env, run_order=len(actions) + 1))
        promote_stages.append({"Name": stage_name(ep), "Actions": actions})
    resources["PromotePipeline"] = pipeline(
        "promote",
        promote_stages,
        # One promotion at a time, in order: pushes to the branch must not race.
        mode="QUEUED",
        triggers=trigger(
            "Push",
            {"Branches": branches, "FilePaths": {"Includes": list(ci.spec_paths(plan))}},
        ),
    )
    for ep in gated:
        # Attach to the reviewers' IAM group or role: they may approve this environment only.
        resources[f"Approve{ident(ep.name)}Policy"] = {
            "Type": "AWS::IAM::ManagedPolicy",
            "Properties": {
                "Description": f"Approve promotions to {ep.name}",
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": "codepipeline:PutApprovalResult",
                            "Resource": sub(
                                "arn:${AWS::Partition}:codepipeline:${AWS::Region}:"
                                f"${{AWS::AccountId}}:${{PromotePipeline}}/{stage_name(ep)}/Approve"
                            ),
                        },
                        {
                            "Effect": "Allow",
                            "Action": [
                                "codepipeline:GetPipeline",
                                "codepipeline:GetPipelineState",
                                "codepipeline:GetPipelineExecution",
                                "codepipeline:ListPipelineExecutions",
                            ],
                            "Resource": sub(
                                "arn:${AWS::Partition}:codepipeline:${AWS::Region}:"
                                "${AWS::AccountId}:${PromotePipeline}"
                            ),
                        },
                    ],
                },
            },
        }
    if rows:
        resources["TrainPipeline"] = pipeline(
            "train",
            [
                {"Name": "Source", "Actions": [source_action(triggered=False)]},
                {
                    "Name": "Train",
                    "Actions": [
                        build_action(
                            "TrainAndGate",
                            "TrainProject",
                            {"MLOPSC_MODEL": "#{variables.MLOPSC_MODEL}"},
                        )
                    ],
                },
            ],
            mode="PARALLEL",
            variables=[
                {
                    "Name": "MLOPSC_MODEL",
                    "DefaultValue": rows[0].model,
                    "Description": "Model to train (or, when it trains on Kubernetes, to gate)",
                }
            ],
        )
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"mlopsc CI/CD for {plan.name}: checks, training gates, promotion",
        "Parameters": parameters(),
        "Resources": resources,
    }


def ident(name: str) -> str:
    """A CloudFormation logical-id part from a spec name ([a-z0-9-]): capitalised, no dash."""
    return "".join(part[:1].upper() + part[1:] for part in name.split("-"))


def render(plan: Plan) -> list[Artifact]:
    rows = ci.trainings(plan)
    artifacts = [Artifact(TEMPLATE, yaml_text([template(plan, rows)], header=plan.header("#")))]
    if rows:
        artifacts.append(Artifact(TRAINING_TABLE, ci.training_table(rows)))
    return artifacts


TARGET = ModuleTarget(NAME, render, enabled_fn=ci_system(NAME))
