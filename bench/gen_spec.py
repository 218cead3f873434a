"""Generate a large synthetic but valid mlops.yaml: N models, with features and SLOs in proportion.

Usage: python bench/gen_spec.py N > spec.yaml
"""

from __future__ import annotations

import sys

DIGEST = "sha256:" + "ab" * 32


def spec(models: int) -> str:
    views = max(1, models // 5)
    lines = [
        "apiVersion: mlopsc/v1",
        "kind: MLOpsProject",
        "metadata:",
        "  name: bench",
        "  owner: ml",
        "  repository: github.com/acme/bench",
        "teams:",
        "  - {name: ml, email: ml@example.com, pagerduty_service: PBENCH1, slack: '#ml'}",
        "  - {name: gov, email: gov@example.com}",
        "environments:",
        "  - {name: staging, namespace: bench-staging, prometheus_url: http://prom:9090}",
        "  - {name: production, namespace: bench-prod, prometheus_url: http://prom:9090,",
        "     approval: {required: true, reviewers: [gov]}}",
        "sources:",
        "  - {name: events, kind: file, path: s3://bench/events/, timestamp_field: ts}",
        "entities:",
        "  - {name: user, join_keys: [user_id], dtype: int64}",
        "features:",
    ]
    for v in range(views):
        lines += [
            f"  - name: view_{v}",
            "    entity: user",
            "    source: events",
            "    ttl: 1d",
            "    fields:",
            *[f"      - {{name: f_{v}_{j}, dtype: float64}}" for j in range(5)],
        ]
    lines.append("models:")
    for m in range(models):
        v = m % views
        realtime = m % 4 != 3
        runtime = "kserve" if m % 2 else "deployment"
        lines += [
            f"  - name: model-{m}",
            "    version: 1.0.0",
            "    framework: sklearn",
            "    risk: minimal",
            f"    artifact: {{uri: s3://bench/models/{m}/, digest: '{DIGEST}'}}",
            f"    features: [view_{v}:f_{v}_0, view_{v}:f_{v}_1]",
            "    training:",
            f"      image: ghcr.io/acme/train@{DIGEST}",
            "      schedule: '0 3 * * 1'",
            "      data: [events]",
            "      resources: {cpu: '2', memory: 4Gi}",
            "    serving:",
        ]
        if realtime:
            lines += [
                "      mode: realtime",
                f"      runtime: {runtime}",
                f"      image: ghcr.io/acme/serve@{DIGEST}",
                "      resources: {cpu: 500m, memory: 1Gi}",
                "      autoscaling: {min_replicas: 2, max_replicas: 6}",
            ]
            if m % 3 == 0:
                lines.append("      rollout: {strategy: canary, canary_percent: 10}")
        else:
            lines += [
                "      mode: batch",
                f"      image: ghcr.io/acme/score@{DIGEST}",
                "      schedule: '0 1 * * *'",
                "      resources: {cpu: '1', memory: 2Gi}",
            ]
        lines += [
            "    monitoring:",
            f"      drift: {{features: ['view_{v}:f_{v}_0'], threshold: 0.2,",
            f"        reference: 's3://bench-features/reference/model-{m}/',",
            f"        current: 's3://bench-features/current/model-{m}/'}}",
        ]
    lines.append("slos:")
    for m in range(models):
        if m % 4 != 3:
            lines += [
                f"  - name: model-{m}-availability",
                f"    model: model-{m}",
                "    objective: 99.9",
                "    sli: {availability: {}}",
            ]
        else:
            lines += [
                f"  - name: model-{m}-freshness",
                f"    model: model-{m}",
                "    objective: 99",
                "    sli: {freshness: {max_age: 8d}}",
            ]
    lines += ["governance:", "  frameworks: [baseline]"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(spec(int(sys.argv[1]) if len(sys.argv) > 1 else 100))
