"""Conventions: every name, suffix and label key that more than one output uses, in one place.

Outputs agree with each other because they read these, never a copy: the alert's `cronjob`
label is the CronJob's name, the dashboard's selector is the Deployment's label. The SLI metric
catalog (metric names and labels per SLI kind and runtime) lives beside this in the monitoring
conventions.
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib

# Label keys (Kubernetes recommended labels plus mlopsc's own).
MANAGED_BY = "app.kubernetes.io/managed-by"
PART_OF = "app.kubernetes.io/part-of"
INSTANCE = "app.kubernetes.io/instance"
APP_NAME = "app.kubernetes.io/name"
APP_VERSION = "app.kubernetes.io/version"
COMPONENT = "app.kubernetes.io/component"
MODEL_LABEL = "mlopsc/model"
OWNER_LABEL = "mlopsc/owner"
RISK_LABEL = "mlopsc/risk"
GENERATOR = "mlopsc"

# Object name suffixes of a model's workloads (a CronJob's name is at most 52 characters).
CANARY_SUFFIX = "canary"
TRAIN_SUFFIX = "train"
DRIFT_SUFFIX = "drift"
SCORE_SUFFIX = "score"
JOB_SUFFIXES = (TRAIN_SUFFIX, DRIFT_SUFFIX, SCORE_SUFFIX)  # a model's CronJobs
NAME_LIMIT = 45  # leaves room for -canary, -train, -drift, -score within the 52 of a CronJob

# Branch an approval environment's Argo CD Application syncs; promotion fast-forwards it.
RELEASE_BRANCH_PREFIX = "mlopsc/"

# The image GitLab jobs and Cloud Build steps run mlopsc in, unless outputs.ci_image says
# otherwise: the full image, as promotion needs git.
DEFAULT_CI_IMAGE = "python:3.11"

# CI job names of a model's stages.
CI_TRAIN_JOB = "mlopsc-train"
CI_GATE_JOB = "mlopsc-gate"
CI_PROMOTE_JOB = "mlopsc-promote"


def k8s_name(*parts: str, limit: int = NAME_LIMIT) -> str:
    """Join validated DNS-1123 parts; shorten with a stable hash when too long."""
    name = "-".join(p for p in parts if p)
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:6]
    return name[: limit - 7].rstrip("-") + "-" + digest


def workload_name(object_name: str, suffix: str) -> str:
    """The name of a model's workload with a suffix: `<object>-train`, `<object>-canary`, …"""
    return f"{object_name}-{suffix}"


def ci_job(stage: str, model: str) -> str:
    """A model's CI job (or concurrency group) name: `mlopsc-train-<model>`."""
    return f"{stage}-{model}"


def env_folder(env: str) -> str:
    """The output folder of one environment's Kubernetes objects (Argo CD syncs it)."""
    return f"kubernetes/{env}"


def model_file(model: str) -> str:
    """The file of one model's objects in its environment folder."""
    return f"model-{model}.yaml"


# The PrometheusRule objects of an environment folder: one file, or one per group of models.
RULES_FILE = "prometheus-rules.yaml"


def rules_file(shard: int | None = None) -> str:
    """The PrometheusRule file of an environment folder (of its group of models `shard`,
    counted from 1)."""
    return RULES_FILE if shard is None else f"prometheus-rules-{shard}.yaml"


# Argo CD's repo server reads at most this many bytes of manifests per directory source
# (`reposerver.max.combined.directory.manifests.size`, default "10M"), and an Application
# keeps the status of every resource it manages in its own object, which etcd caps at about
# 1.5 MB (about 3,000 resources were too many:
# https://github.com/argoproj/argo-cd/issues/14486). An environment whose models weigh more
# than SHARD_WEIGHT (a model 1, each of its SLOs 1 more: about 11 KB and 6 objects each at the
# sizes of bench/gen_spec.py) gets one Application per group of models of at most that weight.
ARGOCD_SOURCE_LIMIT = 10_000_000
ARGOCD_APP_OBJECTS = 2_000
SHARD_WEIGHT = 200


def argocd_directories(shards: tuple[tuple[str, ...], ...]) -> list[dict[str, str]]:
    """The `directory` filters of an environment's Argo CD Applications, which together read
    every file of its folder once (the kustomization excepted): one Application, or one for the
    environment's own objects and one per group of models (their files and their rules)."""
    if not shards:
        return [{"exclude": "kustomization.yaml"}]
    own = ["kustomization.yaml", model_file("*"), "prometheus-rules-*.yaml"]
    parts = [{"exclude": "{" + ",".join(own) + "}"}]
    for i, models in enumerate(shards, 1):
        names = [model_file(m) for m in models] + [rules_file(i)]
        parts.append({"include": "{" + ",".join(names) + "}"})
    return parts


def argocd_reads(directory: dict[str, str], name: str) -> bool:
    """Whether a source with these `directory` filters reads the file `name` of its folder
    (Argo CD's glob: `*` and `{a,b}` alternatives, as argocd_directories writes them)."""
    if "exclude" in directory and _glob_matches(directory["exclude"], name):
        return False
    return "include" not in directory or _glob_matches(directory["include"], name)


def _glob_matches(pattern: str, name: str) -> bool:
    names, wildcards = _glob_parts(pattern)
    return name in names or any(fnmatch.fnmatchcase(name, w) for w in wildcards)


@functools.lru_cache(maxsize=256)
def _glob_parts(pattern: str) -> tuple[frozenset[str], tuple[str, ...]]:
    """A pattern's alternatives: the literal names, and the ones with wildcards."""
    head, brace, rest = pattern.partition("{")
    inner, _, tail = rest.partition("}")
    alternatives = [head + alt + tail for alt in inner.split(",")] if brace else [pattern]
    literal = frozenset(a for a in alternatives if not any(c in a for c in "*?["))
    return literal, tuple(a for a in alternatives if a not in literal)


def argocd_file(env: str) -> str:
    """The output file of one environment's Argo CD Application."""
    return f"argocd/{env}.yaml"
