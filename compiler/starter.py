"""The starter mlops.yaml that `mlopsc init` writes: small, commented, and valid as it is."""

from __future__ import annotations

import re
import unicodedata

DEFAULT_NAME = "my-ml-project"
MAX_NAME = 40
SCHEMA_URL = "https://raw.githubusercontent.com/mlopsc/mlopsc/main/schemas/mlops-v1.schema.json"
# Obviously a placeholder, yet a valid sha256 digest, so the starter validates as written.
PLACEHOLDER_DIGEST = "sha256:" + "0" * 64

_NOT_NAME = re.compile(r"[^a-z0-9-]+")
_DASHES = re.compile(r"-{2,}")


def clean_name(raw: str, *, limit: int = MAX_NAME) -> str:
    """`raw` as a DNS-1123 label of at most `limit` characters, or the default name."""
    ascii_text = unicodedata.normalize("NFKD", raw).encode("ascii", "ignore").decode("ascii")
    text = _NOT_NAME.sub("-", ascii_text.strip().lower())
    text = _DASHES.sub("-", text)
    text = text.lstrip("-0123456789")  # a name starts with a letter
    text = text[:limit].strip("-")
    return text or DEFAULT_NAME[:limit]


def _namespace(name: str, suffix: str) -> str:
    """A namespace `<name>-<suffix>` that still fits the 40-character limit."""
    return f"{clean_name(name, limit=MAX_NAME - len(suffix) - 1)}-{suffix}"


def starter_spec(name: str) -> str:
    """The text of a starter mlops.yaml for project `name` (cleaned into a valid name)."""
    project = clean_name(name)
    staging = _namespace(project, "staging")
    production = _namespace(project, "prod")
    return _TEMPLATE.format(
        schema=SCHEMA_URL,
        name=project,
        staging=staging,
        production=production,
        digest=PLACEHOLDER_DIGEST,
    )


# Values are quoted where YAML could read them as something else (a name such as `null`).
_TEMPLATE = """\
# yaml-language-server: $schema={schema}
#
# A starter mlops.yaml, written by `mlopsc init`. It validates as it is:
#
#     mlopsc validate mlops.yaml
#
# Replace the example values with your own; every key is described in docs/spec.md and
# your editor completes and checks keys through the schema named on the first line.
# `mlopsc explain CODE` explains any diagnostic, `mlopsc rules` lists the governance rules.

apiVersion: mlopsc/v1
kind: MLOpsProject

metadata:
  name: "{name}"            # prefixes every generated object: lower-case, digits, '-', <= 40 chars
  owner: ml-team             # default owner team of everything below (a name under `teams`)
  # repository: github.com/your-org/{name}   # the git repository holding this spec; Argo CD
  #                                  # Applications are generated only when it is set
  description: Replace with what this project is for

# Who owns things. Alerts, CODEOWNERS and approvals route to teams by name.
teams:
  - name: ml-team
    email: ml-team@example.com
    # slack: "#ml-team-alerts"          # ticket alerts
    # github_team: my-org/ml-team       # CODEOWNERS and required reviewers
    # pagerduty_service: PXXXXXX        # page alerts

# Where models deploy, in promotion order. The last one must require approval (BASE-005).
environments:
  - name: staging
    namespace: "{staging}"
    approval: {{required: false}}
  - name: production
    namespace: "{production}"
    # cluster: https://prod.k8s.example.com   # Argo CD destination; default: in-cluster
    approval: {{required: true, reviewers: [ml-team]}}   # team names

# Raw data that features and training read.
sources:
  - name: events                      # snake_case
    kind: file                        # file | bigquery | snowflake | redshift | postgres | kafka
    path: s3://my-bucket/events/      # kind file: path; the other kinds: table
    timestamp_field: event_ts
    # pii_columns: [email]            # personal data: then legal_basis and retention are required
    # legal_basis: contract
    # retention: 400d

entities:
  - name: customer
    join_keys: [customer_id]

# Feature views, compiled to a Feast feature repository.
features:
  - name: customer_stats
    entity: customer
    source: events
    ttl: 1d                           # durations: 250ms, 5m, 1h, 7d, 2w
    fields:
      - {{name: purchases_7d, dtype: int64}}
      - {{name: spend_avg_7d, dtype: float64}}

models:
  - name: my-model
    version: 0.1.0                    # semantic version
    framework: sklearn                # sklearn | xgboost | lightgbm | pytorch | tensorflow | onnx | huggingface | custom
    risk: minimal                     # EU AI Act tier: minimal | limited | high
    description: Replace with what the model predicts
    artifact:
      uri: s3://my-bucket/models/my-model/0.1.0/   # or models:/my-model/1 (MLflow)
    features:                         # view:field, or a view for all its fields
      - customer_stats:purchases_7d
      - customer_stats:spend_avg_7d
    # training:                       # add to get a retraining CronJob and lineage
    #   image: ghcr.io/my-org/my-model-train@sha256:...
    #   command: [python, -m, my_model.train]
    #   schedule: "0 3 * * 1"
    #   data: [events]
    #   resources: {{cpu: "2", memory: 8Gi}}
    serving:
      mode: realtime                  # realtime (a server) | batch (a scoring CronJob)
      runtime: deployment             # deployment (Deployment+Service+HPA+PDB) | kserve
      # Images are pinned by digest (BASE-002). This all-zero digest is a placeholder:
      # put your image's real digest here (`docker buildx imagetools inspect IMAGE`).
      image: ghcr.io/my-org/my-model-server@{digest}
      port: 8080
      resources: {{cpu: 500m, memory: 1Gi}}   # required by BASE-003
      autoscaling: {{min_replicas: 2, max_replicas: 4}}
      rollout: {{strategy: rolling}}    # or {{strategy: canary, canary_percent: 10}}
      overrides:                      # per environment, any serving key
        staging: {{autoscaling: {{min_replicas: 1, max_replicas: 1}}}}
    card:                             # model-card narrative; risk: high makes parts required
      intended_use: Replace with the decisions this model supports
      limitations: Replace with what the model is known not to do well

# Every realtime model needs at least one SLO (BASE-001).
slos:
  - name: my-model-availability
    model: my-model
    objective: 99.5                   # percent of good requests
    window: 30d
    sli:
      availability: {{}}               # or latency: {{threshold: 250ms}}, drift, freshness, events
    alerting:
      page: {{enabled: true}}           # fast burn pages the owner team
      ticket: {{enabled: true}}         # slow burn opens a ticket

governance:
  frameworks: [baseline]              # add eu-ai-act and gdpr when they apply to you
  # policies:                         # your own rules, in CEL
  #   - id: canary-in-production
  #     description: Models roll out by canary
  #     applies_to: model
  #     require: "model.serving.rollout.strategy == 'canary'"
  #     severity: warning
"""
