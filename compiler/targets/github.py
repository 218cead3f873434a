"""GitHub target: pull-request, training and promotion workflows, and CODEOWNERS.

Secure by default (zizmor's audits): no workflow-wide permissions, least privilege per job,
every action pinned to a full commit SHA, checkout without persisted credentials, and no
`${{ }}` expansion inside `run:` (values reach shells through `env:`).
"""

from __future__ import annotations

import shlex
from typing import Any

from compiler.artifact import Artifact
from compiler.plan import EnvPlan, Plan
from compiler.render.yaml import yaml_text
from compiler.spec.models import Model
from compiler.targets.base import ModuleTarget

NAME = "github"
RUNNER = "ubuntu-24.04"
PYTHON = "3.11"
COMMENT_MARKER = "<!-- mlopsc-diff -->"

# Full commit SHAs of release tags (checked against several public pins; see docs/ci.md).
ACTIONS: dict[str, tuple[str, str]] = {
    "actions/checkout": ("11bd71901bbe5b1630ceea73d27597364c9af683", "v4.2.2"),
    "actions/setup-python": ("a26af69be951a213d495a4c3e4e4022e16d87065", "v5.6.0"),
    "actions/upload-artifact": ("ea165f8d65b6e75b540449e92b4886f43607fa02", "v4.6.2"),
    "actions/github-script": ("60a0d83039c74a4aee543508d2ffcb1c3799cdea", "v7.0.1"),
    "github/codeql-action/upload-sarif": ("ff0a06e83cb2de871e5a09832bc6a81e7276941f", "v3.28.18"),
}


def uses(action: str) -> str:
    return f"{action}@{ACTIONS[action][0]}"


DEFAULT_WORKFLOWS = "github/workflows"


def workflows_dir(plan: Plan) -> str:
    """Where workflows are written, relative to the output folder."""
    return (plan.index.project.outputs.github_workflows or DEFAULT_WORKFLOWS).strip("/")


def out_dir(plan: Plan) -> str:
    return plan.index.project.outputs.directory.strip("/")


def spec_paths(plan: Plan) -> list[str]:
    """The spec and its included files, as repository paths (the spec sits at the root)."""
    return [plan.spec_path, *plan.index.project.include]


def checkout(*, fetch_depth: int | None = None) -> dict[str, Any]:
    with_: dict[str, Any] = {"persist-credentials": False}
    if fetch_depth is not None:
        with_["fetch-depth"] = fetch_depth
    return {"name": "Check out", "uses": uses("actions/checkout"), "with": with_}


def install_steps() -> list[dict[str, Any]]:
    return [
        {
            "name": "Set up Python",
            "uses": uses("actions/setup-python"),
            "with": {"python-version": PYTHON},
        },
        {
            "name": "Install mlopsc",
            "run": 'python -m pip install --disable-pip-version-check "$MLOPSC_REQUIREMENT"',
        },
    ]


def common_env(plan: Plan) -> dict[str, str]:
    return {
        "MLOPSC_REQUIREMENT": plan.mlopsc_requirement,
        "MLOPSC_SPEC": plan.spec_path,
        "MLOPSC_OUT": out_dir(plan),
    }


def workflow(
    name: str, on: dict[str, Any], plan: Plan, concurrency: dict[str, Any], jobs: dict[str, Any]
) -> dict[str, Any]:
    return {
        "name": name,
        "on": on,
        "permissions": {},
        "concurrency": concurrency,
        "env": common_env(plan),
        "jobs": jobs,
    }


_COMMENT_SCRIPT = """\
const fs = require('fs');
const marker = process.env.MARKER;
const body = marker + '\\n' + fs.readFileSync('mlopsc-diff.md', 'utf8');
const { owner, repo } = context.repo;
const issue_number = context.payload.pull_request.number;
const comments = await github.paginate(github.rest.issues.listComments, { owner, repo, issue_number });
const mine = comments.find((c) => c.user.type === 'Bot' && c.body.startsWith(marker));
if (mine) {
  await github.rest.issues.updateComment({ owner, repo, comment_id: mine.id, body });
} else {
  await github.rest.issues.createComment({ owner, repo, issue_number, body });
}
"""


def pr_workflow(plan: Plan) -> dict[str, Any]:
    paths = [*spec_paths(plan), "**" if out_dir(plan) == "." else f"{out_dir(plan)}/**"]
    validate = {
        "name": "Validate and check",
        "runs-on": RUNNER,
        "timeout-minutes": 10,
        "permissions": {"contents": "read", "security-events": "write"},
        "steps": [
            checkout(),
            *install_steps(),
            {
                "name": "Validate (annotations)",
                "run": 'mlopsc validate "$MLOPSC_SPEC" --format github',
            },
            {
                "name": "Validate (SARIF)",
                "if": "always()",
                "run": 'mlopsc validate "$MLOPSC_SPEC" --format sarif > mlopsc.sarif || true',
            },
            {
                "name": "Upload SARIF",
                "if": "always()",
                "uses": uses("github/codeql-action/upload-sarif"),
                "with": {"sarif_file": "mlopsc.sarif", "category": "mlopsc"},
            },
            {
                "name": "Generated files are in sync",
                "run": 'mlopsc check "$MLOPSC_SPEC" -o "$MLOPSC_OUT"',
            },
        ],
    }
    diff = {
        "name": "Describe the change",
        "runs-on": RUNNER,
        "timeout-minutes": 10,
        "permissions": {"contents": "read", "pull-requests": "write"},
        "steps": [
            checkout(fetch_depth=0),
            *install_steps(),
            {
                "name": "mlopsc diff",
                "env": {"BASE_SHA": "${{ github.event.pull_request.base.sha }}"},
                "run": 'mlopsc diff "$MLOPSC_SPEC" --base "$BASE_SHA" --format markdown'
                " > mlopsc-diff.md",
            },
            {
                # Pull requests from forks get a read-only token: they see the job log only.
                "name": "Post or update the PR comment",
                "if": "github.event.pull_request.head.repo.full_name == github.repository",
                "uses": uses("actions/github-script"),
                "env": {"MARKER": COMMENT_MARKER},
                "with": {"script": _COMMENT_SCRIPT},
            },
        ],
    }
    return workflow(
        "mlopsc pull request",
        {"pull_request": {"paths": paths}},
        plan,
        {"group": "mlopsc-pr-${{ github.event.pull_request.number }}", "cancel-in-progress": True},
        {"validate": validate, "diff": diff},
    )


def metrics_file(model: Model) -> str:
    return f"metrics/{model.name}.json"


def train_workflow(plan: Plan, model: Model) -> dict[str, Any]:
    training = model.training
    assert training is not None
    on: dict[str, Any] = {}
    if training.schedule:
        on["schedule"] = [{"cron": training.schedule}]
    on["workflow_dispatch"] = {}
    command = shlex.join(training.command)
    run_train = (
        "mkdir -p metrics\n"
        'docker run --rm --read-only --tmpfs /tmp --user "$(id -u):$(id -g)" \\\n'
        '  -v "$PWD/metrics:/metrics" \\\n'
        '  -e "MLOPSC_MODEL=$MODEL" -e "MLOPSC_MODEL_VERSION=$MODEL_VERSION" \\\n'
        '  -e "MLOPSC_METRICS_FILE=/metrics/$MODEL.json" \\\n'
        f'  "$TRAIN_IMAGE"{" " + command if command else ""}\n'
    )
    job = {
        "name": f"Train and evaluate {model.name}",
        "runs-on": RUNNER,
        "timeout-minutes": 360,
        "permissions": {"contents": "read"},
        "env": {
            "MODEL": model.name,
            "MODEL_VERSION": model.version,
            "TRAIN_IMAGE": training.image,
            "METRICS_FILE": metrics_file(model),
        },
        "steps": [
            checkout(),
            *install_steps(),
            {"name": "Train and evaluate (writes the metrics JSON)", "run": run_train},
            {
                "name": "Promotion gates",
                "run": 'mlopsc gate "$MLOPSC_SPEC" --model "$MODEL" --metrics "$METRICS_FILE"',
            },
            {
                "name": "Upload metrics",
                "if": "always()",
                "uses": uses("actions/upload-artifact"),
                "with": {
                    "name": f"metrics-{model.name}",
                    "path": metrics_file(model),
                    "if-no-files-found": "warn",
                    "retention-days": 90,
                },
            },
        ],
    }
    return workflow(
        f"train {model.name}",
        on,
        plan,
        {"group": f"mlopsc-train-{model.name}", "cancel-in-progress": False},
        {"train": job},
    )


_PROMOTE = """\
mlopsc build "$MLOPSC_SPEC" -o "$MLOPSC_OUT" --only kubernetes,argocd
git add -- "$MLOPSC_OUT/kubernetes/$ENVIRONMENT" "$MLOPSC_OUT/argocd/$ENVIRONMENT.yaml" "$MLOPSC_OUT/mlopsc.lock.json"
if git diff --cached --quiet; then
  echo "manifests of $ENVIRONMENT already hold $MODEL $MODEL_VERSION"
  exit 0
fi
git -c user.name="github-actions[bot]" \\
    -c user.email="41898282+github-actions[bot]@users.noreply.github.com" \\
    commit -m "promote $MODEL $MODEL_VERSION to $ENVIRONMENT"
auth="$(printf 'x-access-token:%s' "$GITHUB_TOKEN" | base64 -w0)"
git -c "http.https://github.com/.extraheader=AUTHORIZATION: basic $auth" \\
    push origin "HEAD:$GITHUB_REF_NAME"
"""


# Fast-forward only: a release branch never loses a commit that was approved before.
_RELEASE = """\
auth="$(printf 'x-access-token:%s' "$GITHUB_TOKEN" | base64 -w0)"
git -c "http.https://github.com/.extraheader=AUTHORIZATION: basic $auth" \\
    push origin "HEAD:refs/heads/$RELEASE_BRANCH"
"""


def promote_job(plan: Plan, model: Model, ep: EnvPlan, previous: str | None) -> dict[str, Any]:
    job: dict[str, Any] = {
        "name": f"Promote {model.name} to {ep.name}",
        "runs-on": RUNNER,
        "timeout-minutes": 15,
        # A GitHub environment: its required reviewers enforce the spec's approvals.
        "environment": {"name": ep.name},
        "permissions": {"contents": "write"},
        "env": {
            "MODEL": model.name,
            "MODEL_VERSION": model.version,
            "ENVIRONMENT": ep.name,
        },
        "steps": [
            checkout(),
            *install_steps(),
            {
                "name": f"Commit the rendered manifests of {ep.name} (Argo CD syncs them)",
                "env": {"GITHUB_TOKEN": "${{ github.token }}"},
                "run": _PROMOTE,
            },
        ],
    }
    if ep.release_branch:
        job["steps"].append(
            {
                "name": f"Release the approved commit to {ep.name} (branch {ep.release_branch})",
                "env": {"GITHUB_TOKEN": "${{ github.token }}", "RELEASE_BRANCH": ep.release_branch},
                "run": _RELEASE,
            }
        )
    if previous is not None:
        job = {"needs": previous, **job}
    return job


def promote_workflow(plan: Plan, model: Model) -> dict[str, Any]:
    jobs: dict[str, Any] = {}
    previous: str | None = None
    for ep in plan.environments:
        job_id = f"deploy-{ep.name}"
        jobs[job_id] = promote_job(plan, model, ep, previous)
        previous = job_id
    return workflow(
        f"promote {model.name}",
        {"workflow_dispatch": {}},
        plan,
        # One group for every promotion: pushes to the branch must not race.
        {"group": "mlopsc-promote", "cancel-in-progress": False},
        jobs,
    )


def handles(plan: Plan, teams: set[str]) -> list[str]:
    """GitHub team handles of the named teams that have one, sorted."""
    return sorted({f"@{plan.teams[t].github_team}" for t in teams if plan.teams[t].github_team})


def approvers(plan: Plan) -> set[str]:
    """Teams that approve: reviewers of gated environments and approvers of waivers."""
    teams = {r for ep in plan.environments if ep.needs_approval for r in ep.env.approval.reviewers}
    teams |= {w.approved_by for w in plan.index.project.governance.waivers}
    return teams


def codeowners(plan: Plan) -> bytes:
    owner = plan.index.project.metadata.owner
    out = out_dir(plan)
    model_owners = {plan.index.owner_of(m) for m in plan.models}
    data_owners = {plan.index.owner_of(v) for v in plan.views} | {
        plan.index.owner_of(s) for s in plan.sources
    }
    slo_owners = {s.owner.name for s in plan.slos}
    gov = approvers(plan)
    rules: list[tuple[str, set[str], str]] = [
        *([(f"/{out}/", {owner}, "generated files: the project owner")] if out != "." else []),
        (f"/{plan.spec_path}", {owner} | gov, "the spec; it holds governance, so approvers too"),
    ]
    for pattern in plan.index.project.include:
        rules.append((f"/{pattern}", {owner} | model_owners | data_owners, "included spec parts"))
    for ep in plan.environments:
        teams = {owner} | model_owners
        note = f"environment {ep.name}"
        if ep.needs_approval:
            teams |= set(ep.env.approval.reviewers)
            note += " (approval required)"
        rules.append((f"/{plan.repo_path(f'kubernetes/{ep.name}')}/", teams, note))
        rules.append((f"/{plan.repo_path(f'argocd/{ep.name}.yaml')}", teams, note))
    rules += [
        (f"/{plan.repo_path('monitoring')}/", {owner} | slo_owners, "alerts and dashboards"),
        (f"/{plan.repo_path('feast')}/", {owner} | data_owners, "feature repository"),
        (f"/{plan.repo_path('docs')}/", {owner} | gov, "audit documents: governance"),
        (f"/{plan.repo_path(workflows_dir(plan))}/", {owner} | gov, "CI workflows"),
        (f"/{plan.repo_path('github/CODEOWNERS')}", {owner} | gov, "this file"),
        (f"/{plan.repo_path('gitlab')}/", {owner} | gov, "CI pipeline"),
    ]
    lines = [plan.header("#").rstrip("\n"), "# The last matching pattern takes precedence."]
    for pattern, teams, note in rules:
        owners = handles(plan, teams)
        lines.append(f"# {note}")
        if owners:
            lines.append(f"{pattern} {' '.join(owners)}")
        else:
            lines.append(f"# {pattern}: no owning team has a github_team")
    return ("\n".join(lines) + "\n").encode("utf-8")


def workflow_text(plan: Plan, data: dict[str, Any]) -> bytes:
    """YAML of a workflow, with each pinned action's version in a trailing comment."""
    text = yaml_text([data], header=plan.header("#")).decode("utf-8")
    for action, (sha, version) in ACTIONS.items():
        text = text.replace(f"uses: {action}@{sha}\n", f"uses: {action}@{sha} # {version}\n")
    return text.encode("utf-8")


def render(plan: Plan) -> list[Artifact]:
    folder = workflows_dir(plan)
    artifacts = [Artifact(f"{folder}/mlopsc-pr.yml", workflow_text(plan, pr_workflow(plan)))]
    for model in plan.models:
        if model.training is not None:
            artifacts.append(
                Artifact(
                    f"{folder}/train-{model.name}.yml",
                    workflow_text(plan, train_workflow(plan, model)),
                )
            )
        artifacts.append(
            Artifact(
                f"{folder}/promote-{model.name}.yml",
                workflow_text(plan, promote_workflow(plan, model)),
            )
        )
    artifacts.append(Artifact("github/CODEOWNERS", codeowners(plan)))
    return artifacts


TARGET = ModuleTarget(NAME, render)
