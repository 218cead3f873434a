"""GitHub target: one workflow per kind (pull request, training, promotion), and CODEOWNERS.

Secure by default (zizmor's audits): no workflow-wide permissions, least privilege per job,
every action pinned to a full commit SHA, checkout without persisted credentials, and no spec
text in any script or expression: the training workflow reads each model's facts from a
generated table (`github/mlopsc-training.json`) and passes them to shells as variables.
"""

from __future__ import annotations

import json
from typing import Any

from compiler.artifact import Artifact
from compiler.plan import EnvPlan, Plan
from compiler.render.actions import codeowners_path, github_value
from compiler.render.yaml import yaml_text
from compiler.targets import ci_common as ci
from compiler.targets.base import ModuleTarget, ci_system

NAME = "github"
RUNNER = "ubuntu-24.04"
PYTHON = "3.11"
COMMENT_MARKER = "<!-- mlopsc-diff -->"
DEFAULT_WORKFLOWS = "github/workflows"
TRAINING_TABLE = "github/mlopsc-training.json"
# Folders of the other CI systems a spec may list in outputs.ci (each target's own name).
OTHER_CI_FOLDERS = ("azure", "cloudbuild", "aws", "jenkins")
MATRIX_LIMIT = 256  # jobs one matrix may create in a workflow run

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


def workflows_dir(plan: Plan) -> str:
    """Where workflows are written, relative to the output folder."""
    return (plan.github_workflows or DEFAULT_WORKFLOWS).strip("/")


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
        "MLOPSC_REQUIREMENT": github_value(plan.mlopsc_requirement),
        "MLOPSC_SPEC": github_value(plan.spec_path),
        "MLOPSC_OUT": github_value(ci.output_dir(plan)),
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
    validate = {
        "name": "Validate and check",
        "runs-on": RUNNER,
        "timeout-minutes": 10,
        "permissions": {"contents": "read", "security-events": "write"},
        "steps": [
            # the whole history: check dates the documents by the spec's last commit
            checkout(fetch_depth=0),
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
        {"pull_request": {"paths": ci.watched_paths(plan, everything="**", below="**")}},
        plan,
        {"group": "mlopsc-pr-${{ github.event.pull_request.number }}", "cancel-in-progress": True},
        {"validate": validate, "diff": diff},
    )


# Which models this run trains: those whose schedule fired (CI-trained ones only: the
# Kubernetes CronJob keeps its own schedule), or the one chosen on manual dispatch. Batches of
# at most 256, the most one matrix may hold.
_SELECT = """\
table="$MLOPSC_OUT/github/mlopsc-training.json"
if [ -n "$SCHEDULE" ]; then
  rows="$(jq -c --arg s "$SCHEDULE" '[.[] | select(.trains_on == "ci" and .schedule == $s) | {model, trains_on}]' "$table")"
else
  rows="$(jq -c --arg m "$MODEL" '[.[] | select(.model == $m) | {model, trains_on}]' "$table")"
fi
echo "training: $rows"
for i in $(seq 1 "$BATCHES"); do
  echo "batch$i=$(jq -c --argjson i "$i" '.[($i - 1) * 256:$i * 256]' <<<"$rows")"
done >> "$GITHUB_OUTPUT"
"""

# The model's image, command and variables come from the training table as data: the command
# is an argument list (NUL-separated by jq), never a string a shell would parse.
_TRAIN = """\
row="$(jq -c --arg m "$MLOPSC_MODEL" '.[] | select(.model == $m)' "$MLOPSC_OUT/github/mlopsc-training.json")"
image="$(jq -r '.image' <<<"$row")"
mapfile -d '' -t command < <(jq -j '.command[] | . + "\\u0000"' <<<"$row")
env_args=()
while IFS= read -r -d '' name && IFS= read -r -d '' value; do
  export "$name=$value"
  env_args+=(-e "$name")
done < <(jq -j '.env | to_entries[] | .key + "\\u0000" + .value + "\\u0000"' <<<"$row")
mkdir -p metrics
docker run --rm --read-only --tmpfs /tmp --user "$(id -u):$(id -g)" \\
  -v "$PWD/metrics:/metrics" "${env_args[@]}" \\
  -e "MLOPSC_METRICS_FILE=/metrics/$MLOPSC_MODEL.json" \\
  "$image" "${command[@]}"
"""

_FETCH = (
    'MLOPSC_METRICS_URI="$(jq -r --arg m "$MLOPSC_MODEL" \'.[] | select(.model == $m) | '
    '.metrics_uri\' "$MLOPSC_OUT/github/mlopsc-training.json")"\n'
    "export MLOPSC_METRICS_URI\n" + ci.FETCH_METRICS
)


def train_job(batch: int) -> dict[str, Any]:
    output = f"needs.select.outputs.batch{batch}"
    return {
        "name": "Train and evaluate ${{ matrix.model }}",
        "needs": "select",
        "if": f"{output} != '[]'",
        "strategy": {"fail-fast": False, "matrix": {"include": f"${{{{ fromJSON({output}) }}}}"}},
        # One run of a model at a time, whichever schedule or dispatch started it.
        "concurrency": {
            "group": "mlopsc-train-model-${{ matrix.model }}",
            "cancel-in-progress": False,
        },
        "runs-on": RUNNER,
        "timeout-minutes": 360,
        "permissions": {"contents": "read"},
        "env": {
            "MLOPSC_MODEL": "${{ matrix.model }}",
            "MLOPSC_METRICS_FILE": "metrics/${{ matrix.model }}.json",
        },
        "steps": [
            checkout(),
            *install_steps(),
            {
                "name": "Train on this runner (writes the metrics JSON)",
                "if": f"matrix.trains_on == '{ci.TRAINED_IN_CI}'",
                "run": _TRAIN,
            },
            {
                "name": "Fetch the metrics the Kubernetes training run wrote",
                "if": f"matrix.trains_on == '{ci.TRAINED_ON_KUBERNETES}'",
                "run": _FETCH,
            },
            {"name": "Promotion gates", "run": ci.GATE},
            {
                "name": "Upload metrics",
                "if": "always()",
                "uses": uses("actions/upload-artifact"),
                "with": {
                    "name": "metrics-${{ matrix.model }}",
                    "path": "metrics/${{ matrix.model }}.json",
                    "if-no-files-found": "warn",
                    "retention-days": 90,
                },
            },
        ],
    }


def batches(rows: list[ci.Training]) -> int:
    """Matrix jobs needed so that the largest single run fits in matrices of 256."""
    per_schedule: dict[str, int] = {}
    for row in rows:
        if row.schedule and row.trains_on == ci.TRAINED_IN_CI:
            per_schedule[row.schedule] = per_schedule.get(row.schedule, 0) + 1
    largest = max([1, *per_schedule.values()])
    return -(-largest // MATRIX_LIMIT)


def train_workflow(plan: Plan, rows: list[ci.Training]) -> dict[str, Any]:
    on: dict[str, Any] = {}
    crons = sorted({r.schedule for r in rows if r.schedule and r.trains_on == ci.TRAINED_IN_CI})
    if crons:
        on["schedule"] = [{"cron": cron} for cron in crons]
    on["workflow_dispatch"] = {
        "inputs": {
            "model": {
                "description": "Model to train (or, when it trains on Kubernetes, to gate)",
                "required": True,
                "type": "choice",
                "options": [r.model for r in rows],
            }
        }
    }
    count = batches(rows)
    select = {
        "name": "Models to train",
        "runs-on": RUNNER,
        "timeout-minutes": 5,
        "permissions": {"contents": "read"},
        "outputs": {
            f"batch{i}": f"${{{{ steps.select.outputs.batch{i} }}}}" for i in range(1, count + 1)
        },
        "steps": [
            checkout(),
            {
                "id": "select",
                "name": "Select by schedule or input",
                "env": {
                    "SCHEDULE": "${{ github.event.schedule }}",
                    "MODEL": "${{ inputs.model }}",
                    "BATCHES": str(count),
                },
                "run": _SELECT,
            },
        ],
    }
    jobs: dict[str, Any] = {"select": select}
    for i in range(1, count + 1):
        jobs["train" if i == 1 else f"train-{i}"] = train_job(i)
    return workflow(
        "mlopsc train",
        on,
        plan,
        {
            "group": "mlopsc-train-${{ github.event.schedule || inputs.model }}",
            "cancel-in-progress": False,
        },
        jobs,
    )


_IDENTITY = (
    '-c user.name="github-actions[bot]" '
    '-c user.email="41898282+github-actions[bot]@users.noreply.github.com"'
)
_PUSH = (
    'git -c "http.https://github.com/.extraheader=AUTHORIZATION: basic '
    '$(printf \'x-access-token:%s\' "$GITHUB_TOKEN" | base64 -w0)" push origin'
)
_PROMOTE = ci.promote_script(identity=_IDENTITY, push=_PUSH, branch="$GITHUB_REF_NAME")

# Fast-forward only: a release branch never loses a commit that was approved before.
_RELEASE = _PUSH + ' "HEAD:refs/heads/$RELEASE_BRANCH"\n'


def canary_step(environment: str) -> dict[str, Any]:
    """Judge the KServe canaries of `environment` (exit 1 or 2 stops the promotion)."""
    return {
        "name": f"Canary check of {environment} (its KServe canaries must pass)",
        "env": {"MLOPSC_CANARY_ENVIRONMENT": github_value(environment)},
        "run": ci.CANARY_CHECK,
    }


def promote_job(plan: Plan, ep: EnvPlan, previous: str | None) -> dict[str, Any]:
    job: dict[str, Any] = {
        "name": f"Promote to {ep.name}",
        "runs-on": RUNNER,
        "timeout-minutes": 15,
        # A GitHub environment: its required reviewers enforce the spec's approvals.
        "environment": {"name": ep.name},
        "permissions": {"contents": "write"},
        "env": {"MLOPSC_ENVIRONMENT": ep.name},
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
    canary_env = ci.canary_environment(plan, ep)
    if canary_env is not None:
        # First: nothing is committed or released when the canary before did not pass.
        job["steps"].insert(len(job["steps"]) - 1, canary_step(canary_env))
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


def promote_workflow(plan: Plan) -> dict[str, Any]:
    jobs: dict[str, Any] = {}
    previous: str | None = None
    for ep in plan.environments:
        job_id = f"deploy-{ep.name}"
        jobs[job_id] = promote_job(plan, ep, previous)
        previous = job_id
    return workflow(
        "mlopsc promote",
        {"workflow_dispatch": {}},
        plan,
        # One group for every promotion: pushes to the branch must not race.
        {"group": "mlopsc-promote", "cancel-in-progress": False},
        jobs,
    )


RESOLVE_BRANCH = "mlopsc/resolve"
RESOLVE_SCHEDULE = "17 * * * *"  # hourly, off the top of the hour
RESOLVE_DISPATCH = "mlopsc-registry"  # repository_dispatch type a registry webhook sends

_RESOLVE_PR = f"""\
if [ -z "$(git status --porcelain)" ]; then
  echo "mlopsc: no registry version moved"
  exit 0
fi
git switch -C "$BRANCH"
git add -A
git {_IDENTITY} commit -q -F "$RUNNER_TEMP/mlopsc-resolve.txt"
{_PUSH} --force "HEAD:refs/heads/$BRANCH"
if ! gh pr edit "$BRANCH" --body-file "$RUNNER_TEMP/mlopsc-resolve.txt"; then
  gh pr create --base "$GITHUB_REF_NAME" --head "$BRANCH" \\
    --title "mlopsc resolve: registry versions moved" --body-file "$RUNNER_TEMP/mlopsc-resolve.txt"
fi
"""

_RESOLVE_RUN = """\
{ echo "mlopsc resolve: registry versions moved"; echo; mlopsc resolve "$MLOPSC_SPEC"; } > "$RUNNER_TEMP/mlopsc-resolve.txt"
cat "$RUNNER_TEMP/mlopsc-resolve.txt"
mlopsc build "$MLOPSC_SPEC" -o "$MLOPSC_OUT"
"""


def resolve_workflow(plan: Plan) -> dict[str, Any]:
    """On a schedule, a registry webhook's dispatch or by hand: `mlopsc resolve`, and a pull
    request with the new lock and outputs when a version moved, so that a new model version
    reaches production through the same review and gates as a spec change."""
    clients = ci.resolve_clients(plan)
    install = install_steps()
    if clients:
        install.append(
            {
                "name": "Install the registry clients",
                "run": "python -m pip install --disable-pip-version-check "
                + " ".join(f'"{c}"' for c in clients),
            }
        )
    job = {
        "name": "Resolve registry versions",
        "runs-on": RUNNER,
        "timeout-minutes": 20,
        "permissions": {"contents": "write", "pull-requests": "write"},
        "steps": [
            checkout(fetch_depth=0),
            *install,
            {
                "name": "Ask the registries (mlops.lock.yaml) and rebuild",
                "env": {
                    "MLFLOW_TRACKING_URI": "${{ secrets.MLFLOW_TRACKING_URI }}",
                    "MLFLOW_TRACKING_TOKEN": "${{ secrets.MLFLOW_TRACKING_TOKEN }}",
                },
                "run": _RESOLVE_RUN,
            },
            {
                "name": "Open or update the pull request when a version moved",
                "env": {
                    # A token other than GITHUB_TOKEN lets the pull request run its own checks.
                    "GITHUB_TOKEN": "${{ secrets.MLOPSC_PR_TOKEN || github.token }}",
                    "GH_TOKEN": "${{ secrets.MLOPSC_PR_TOKEN || github.token }}",
                    "BRANCH": RESOLVE_BRANCH,
                },
                "run": _RESOLVE_PR,
            },
        ],
    }
    return workflow(
        "mlopsc resolve",
        {
            "schedule": [{"cron": RESOLVE_SCHEDULE}],
            "repository_dispatch": {"types": [RESOLVE_DISPATCH]},
            "workflow_dispatch": {},
        },
        plan,
        {"group": "mlopsc-resolve", "cancel-in-progress": False},
        {"resolve": job},
    )


def handles(plan: Plan, teams: set[str]) -> list[str]:
    """GitHub team handles of the named teams that have one, sorted."""
    return sorted({f"@{plan.teams[t].github_team}" for t in teams if plan.teams[t].github_team})


def approvers(plan: Plan) -> set[str]:
    """Teams that approve: reviewers of gated environments and approvers of waivers."""
    teams = {r for ep in plan.environments if ep.needs_approval for r in ep.env.approval.reviewers}
    teams |= {w.approved_by for w in plan.waivers}
    return teams


def codeowners(plan: Plan) -> bytes:
    owner = plan.metadata.owner
    out = ci.output_dir(plan)
    model_owners = {plan.owner_name(m) for m in plan.models}
    data_owners = {plan.owner_name(v) for v in plan.views} | {
        plan.owner_name(s) for s in plan.sources
    }
    slo_owners = {s.owner.name for s in plan.slos}
    gov = approvers(plan)
    rules: list[tuple[str, set[str], str]] = [
        *([(f"/{out}/", {owner}, "generated files: the project owner")] if out != "." else []),
        (f"/{plan.spec_path}", {owner} | gov, "the spec; it holds governance, so approvers too"),
    ]
    for pattern in plan.includes:
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
        (f"/{plan.repo_path('github')}/", {owner} | gov, "CODEOWNERS and the training table"),
        (f"/{plan.repo_path(workflows_dir(plan))}/", {owner} | gov, "CI workflows"),
        (f"/{plan.repo_path('gitlab')}/", {owner} | gov, "CI pipeline"),
        *[
            (f"/{plan.repo_path(folder)}/", {owner} | gov, "CI pipeline")
            for folder in OTHER_CI_FOLDERS
            if folder in plan.ci_systems
        ],
    ]
    lines = [plan.header("#").rstrip("\n"), "# The last matching pattern takes precedence."]
    for pattern, teams, note in rules:
        owners = handles(plan, teams)
        lines.append(f"# {note}")
        if owners:
            lines.append(f"{codeowners_path(pattern)} {' '.join(owners)}")
        else:
            lines.append("# (no owning team has a github_team for the pattern above)")
    return ("\n".join(lines) + "\n").encode("utf-8")


def workflow_text(plan: Plan, data: dict[str, Any]) -> bytes:
    """YAML of a workflow, with each pinned action's version in a trailing comment."""
    text = yaml_text([data], header=plan.header("#")).decode("utf-8")
    for action, (sha, version) in ACTIONS.items():
        text = text.replace(f"uses: {action}@{sha}\n", f"uses: {action}@{sha} # {version}\n")
    return text.encode("utf-8")


def training_table(rows: list[ci.Training]) -> bytes:
    """The training table: a JSON array, one model per line (a spec change is a one-line diff)."""
    lines = [json.dumps(r.entry(), ensure_ascii=False) for r in rows]
    return ("[\n" + ",\n".join(lines) + "\n]\n").encode("utf-8")


def render(plan: Plan) -> list[Artifact]:
    folder = workflows_dir(plan)
    artifacts = [Artifact(f"{folder}/mlopsc-pr.yml", workflow_text(plan, pr_workflow(plan)))]
    rows = ci.trainings(plan)
    if rows:
        artifacts.append(
            Artifact(f"{folder}/mlopsc-train.yml", workflow_text(plan, train_workflow(plan, rows)))
        )
        artifacts.append(Artifact(TRAINING_TABLE, training_table(rows)))
    artifacts.append(
        Artifact(f"{folder}/mlopsc-promote.yml", workflow_text(plan, promote_workflow(plan)))
    )
    if ci.registries(plan):
        artifacts.append(
            Artifact(f"{folder}/mlopsc-resolve.yml", workflow_text(plan, resolve_workflow(plan)))
        )
    artifacts.append(Artifact("github/CODEOWNERS", codeowners(plan)))
    return artifacts


TARGET = ModuleTarget(NAME, render, enabled_fn=ci_system(NAME))
