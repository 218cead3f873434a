"""What the GitHub and GitLab targets share: watched paths, training facts, shell scripts.

Scripts here are constants: they read every spec value from environment variables (or from
the training table), so no spec text is ever part of a script.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from compiler import canary
from compiler.plan import EnvPlan, Plan

TRAINED_IN_CI = "ci"
TRAINED_ON_KUBERNETES = "kubernetes"


def output_dir(plan: Plan) -> str:
    """The build output folder inside the repository (`.` for the root)."""
    return plan.output_directory.strip("/") or "."


def spec_paths(plan: Plan) -> list[str]:
    """The spec, its included files and, when it names a registry, mlops.lock.yaml beside it
    (a moved version changes what deploys), as repository paths (the spec sits at the root)."""
    lock = ["mlops.lock.yaml"] if registries(plan) else []
    return [plan.spec_path, *plan.includes, *lock]


def watched_paths(plan: Plan, *, everything: str, below: str) -> list[str]:
    """The spec, its includes and the output folder, as a CI path filter."""
    out = output_dir(plan)
    return [*spec_paths(plan), everything if out == "." else f"{out}/{below}"]


def training_env(
    version: str, model: str, params: dict[str, Any], data: list[str]
) -> dict[str, str]:
    """The variables a training run sees besides the metrics location, sorted."""
    env = {"MLOPSC_MODEL": model, "MLOPSC_MODEL_VERSION": version}
    for key, value in sorted(params.items()):
        env[f"MLOPSC_PARAM_{key.upper()}"] = value if isinstance(value, str) else json.dumps(value)
    if data:
        env["MLOPSC_TRAINING_DATA"] = ",".join(data)
    return dict(sorted(env.items()))


@dataclass(frozen=True)
class Training:
    """One model's training as CI sees it."""

    model: str
    trains_on: str
    schedule: str | None
    image: str
    command: tuple[str, ...]
    env: dict[str, str]
    metrics_uri: str

    def entry(self) -> dict[str, Any]:
        """The model's row of the training table (a Kubernetes-trained model: its metrics only)."""
        if self.trains_on == TRAINED_ON_KUBERNETES:
            return {
                "model": self.model,
                "trains_on": self.trains_on,
                "metrics_uri": self.metrics_uri,
            }
        return {
            "model": self.model,
            "trains_on": self.trains_on,
            "schedule": self.schedule,
            "image": self.image,
            "command": list(self.command),
            "env": self.env,
            "metrics_uri": self.metrics_uri,
        }


def trainings(plan: Plan) -> list[Training]:
    """Every model with `training`, by name."""
    rows: list[Training] = []
    for model in plan.models:
        training = model.training
        if training is None:
            continue
        rows.append(
            Training(
                model=model.name,
                trains_on=plan.trains_on[model.name],
                schedule=training.schedule,
                image=training.image,
                command=tuple(training.command),
                env=training_env(model.version, model.name, training.params, training.data),
                metrics_uri=plan.metrics_uri(model),
            )
        )
    return rows


def metrics_file(model: str) -> str:
    return f"metrics/{model}.json"


# Reads MLOPSC_METRICS_URI (written by the Kubernetes training run) into MLOPSC_METRICS_FILE
# with the artifact store's own client, installed when the image lacks it. Credentials come
# from the runner (workload identity, instance role) or the usual variables of each client.
FETCH_METRICS = """\
mkdir -p "$(dirname "$MLOPSC_METRICS_FILE")"
case "$MLOPSC_METRICS_URI" in
  s3://*)
    command -v aws >/dev/null || python -m pip install --disable-pip-version-check awscli
    aws s3 cp "$MLOPSC_METRICS_URI" "$MLOPSC_METRICS_FILE" ;;
  gs://*)
    command -v gsutil >/dev/null || python -m pip install --disable-pip-version-check gsutil
    gsutil cp "$MLOPSC_METRICS_URI" "$MLOPSC_METRICS_FILE" ;;
  *)
    command -v mlflow >/dev/null || python -m pip install --disable-pip-version-check mlflow-skinny
    mlflow artifacts download --artifact-uri "$MLOPSC_METRICS_URI" --dst-path metrics-download
    cp metrics-download/metrics.json "$MLOPSC_METRICS_FILE" ;;
esac
"""

# The whole history: check dates the documents by the spec's last commit.
UNSHALLOW = """\
if [ "$(git rev-parse --is-shallow-repository)" = true ]; then
  git fetch --unshallow --no-tags origin
fi
"""

GATE = 'mlopsc gate "$MLOPSC_SPEC" --model "$MLOPSC_MODEL" --metrics "$MLOPSC_METRICS_FILE"'


# The KServe canaries of the environment before this one, judged by their SLIs in its
# Prometheus (environments[].prometheus_url): exit 1 (a check failed or saw no traffic) or 2
# (Prometheus cannot be asked) fails the promotion before anything is committed or released.
CANARY_CHECK = 'mlopsc canary-check "$MLOPSC_SPEC" --environment "$MLOPSC_CANARY_ENVIRONMENT"'


def canary_environment(plan: Plan, ep: EnvPlan) -> str | None:
    """The environment whose canaries the promotion to `ep` checks first: the one before it,
    where the canary ran, when `ep` needs approval (its release branch is what raises
    traffic) and that environment serves a KServe candidate with an availability or latency
    SLO to judge it by. None otherwise: a runtime `deployment` canary is judged in the
    cluster by Argo Rollouts with the same queries (docs/kubernetes.md)."""
    if not ep.needs_approval or ep.index == 0:
        return None
    before = plan.environments[ep.index - 1]
    judged = [mp for mp in before.models if canary.judged_by_promotion(mp)]
    if not any(canary.checks(plan, mp) for mp in judged):
        return None
    return before.name


def promote_script(*, identity: str, push: str, branch: str) -> str:
    """Render one environment's manifests, commit them if they changed, and push."""
    return f"""\
mlopsc build "$MLOPSC_SPEC" -o "$MLOPSC_OUT" --only kubernetes,argocd
git add -- "$MLOPSC_OUT/kubernetes/$MLOPSC_ENVIRONMENT" "$MLOPSC_OUT/argocd/$MLOPSC_ENVIRONMENT.yaml" "$MLOPSC_OUT/mlopsc.lock.json"
if git diff --cached --quiet; then
  echo "the manifests of $MLOPSC_ENVIRONMENT already match the spec"
else
  git {identity} commit -m "promote $MLOPSC_SPEC to $MLOPSC_ENVIRONMENT"
  {push} "HEAD:{branch}"
fi
"""


def training_table(rows: list[Training]) -> bytes:
    """A training table: a JSON array, one model per line (a spec change is a one-line diff)."""
    lines = [json.dumps(r.entry(), ensure_ascii=False) for r in rows]
    return ("[\n" + ",\n".join(lines) + "\n]\n").encode("utf-8")


# The model's row of the training table ($MLOPSC_TABLE) as files under mlopsc-train/, which
# the shell reads as data: the command and the variables NUL-separated, never a string a
# shell would parse. Needs only python3 (no jq), which every mlopsc job has.
PREPARE_TRAINING = """\
python3 - <<'EOF'
import json, os, pathlib
rows = json.load(open(os.environ["MLOPSC_TABLE"], encoding="utf-8"))
row = next((r for r in rows if r["model"] == os.environ["MLOPSC_MODEL"]), None)
if row is None:
    raise SystemExit(f"mlopsc: no model {os.environ['MLOPSC_MODEL']!r} trains in this spec")
out = pathlib.Path("mlopsc-train")
out.mkdir(exist_ok=True)
for key in ("trains_on", "metrics_uri", "image"):
    (out / key).write_text(row.get(key, ""), encoding="utf-8")
words = row.get("command", [])
(out / "command").write_bytes(b"".join(w.encode() + b"\\0" for w in words))
pairs = row.get("env", {}).items()
(out / "env").write_bytes(b"".join(k.encode() + b"\\0" + v.encode() + b"\\0" for k, v in pairs))
EOF
"""

# A CI-trained model: run its image with docker, read-only, as this user, writing the
# metrics to metrics/<model>.json. Bash (mapfile); needs the files PREPARE_TRAINING wrote.
RUN_TRAINING = """\
if [ "$(cat mlopsc-train/trains_on)" = ci ]; then
  image="$(cat mlopsc-train/image)"
  mapfile -d '' -t command < mlopsc-train/command
  env_args=()
  while IFS= read -r -d '' name && IFS= read -r -d '' value; do
    export "$name=$value"
    env_args+=(-e "$name")
  done < mlopsc-train/env
  mkdir -p metrics
  docker run --rm --read-only --tmpfs /tmp --user "$(id -u):$(id -g)" \\
    -v "$PWD/metrics:/metrics" "${env_args[@]}" \\
    -e "MLOPSC_METRICS_FILE=/metrics/$MLOPSC_MODEL.json" \\
    "$image" "${command[@]}"
fi
"""

# A Kubernetes-trained model: fetch the metrics its CronJob wrote beside the artifact.
FETCH_IF_KUBERNETES = (
    'if [ "$(cat mlopsc-train/trains_on)" = kubernetes ]; then\n'
    'MLOPSC_METRICS_URI="$(cat mlopsc-train/metrics_uri)"\n'
    "export MLOPSC_METRICS_URI\n" + FETCH_METRICS + "fi\n"
)

# Train or fetch, then gate: one model's whole run, for systems that run it in one shell
# ($MLOPSC_MODEL, $MLOPSC_TABLE and $MLOPSC_METRICS_FILE=metrics/<model>.json set).
TRAIN_AND_GATE = (
    "set -euo pipefail\n" + PREPARE_TRAINING + RUN_TRAINING + FETCH_IF_KUBERNETES + GATE + "\n"
)


# The registry clients `mlopsc resolve` needs, by registry (the extras of pyproject.toml).
RESOLVE_CLIENTS = {"mlflow": "mlflow-skinny>=2.9,<4", "dvc": "dvc>=3.0,<4"}


def registries(plan: Plan) -> list[str]:
    """The registries the lock resolved from, sorted (none: no resolve workflow or job)."""
    found = {r.registry for r in plan.resolved.values()}
    if plan.data_hashes:
        found.add("dvc")
    return sorted(found)


def resolve_clients(plan: Plan) -> list[str]:
    """pip requirements of the registry clients a CI `mlopsc resolve` needs."""
    return [RESOLVE_CLIENTS[r] for r in registries(plan) if r in RESOLVE_CLIENTS]
