"""Kubernetes manifests: YAML documents, each one an object the API server must accept.

Every file under `kubernetes/<env>/` is written by `manifest_text`, whichever target builds
its objects (the kubernetes target; the monitoring target's PrometheusRules), so that no object
over the size limit is ever written: the build stops with a located error naming the object
instead (docs/kubernetes.md, "Every object fits the API server").
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from compiler.plan import SpecPath
from compiler.render.yaml import yaml_text
from compiler.targets.base import TargetError

# The API server refuses a request body over 3 MiB and etcd a value over 1.5 MiB; 1 MiB leaves
# room for what the cluster adds (managedFields, status).
MAX_OBJECT_BYTES = 1024 * 1024
OBJECT_TOO_LARGE = "MLC415"


class ObjectTooLarge(TargetError):
    """An object the API server would refuse; `path` is the spec key it comes from."""

    def __init__(self, message: str, path: SpecPath) -> None:
        hint = (
            "the API server refuses objects over about 1.5 MiB (etcd's limit); make the spec "
            "values that land in this object smaller"
        )
        super().__init__(OBJECT_TOO_LARGE, message, path, hint)


def manifest_text(
    path: str, objects: Iterable[dict[str, Any]], *, source: SpecPath, header: str = ""
) -> bytes:
    """The file's YAML, each object checked against the size limit.

    The limit applies to what a client sends: compact JSON for kubectl and Argo CD, which is
    smaller than this YAML; both are measured so that neither form can pass the limit.
    `source` is the spec key the objects come from, where the error points."""
    parts: list[bytes] = []
    for obj in objects:
        text = yaml_text([obj])
        size = len(text)
        # Compact JSON is at most about 1.5 times this YAML (quoted keys, no indentation to
        # save): measure it only where it could pass the limit.
        if size > MAX_OBJECT_BYTES // 2:
            size = max(
                size, len(json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode())
            )
        if size > MAX_OBJECT_BYTES:
            m = obj.get("metadata", {})
            raise ObjectTooLarge(
                f"{path}: {obj.get('kind')} {m.get('namespace', '-')}/{m.get('name')} would be "
                f"{size:,} bytes, over the {MAX_OBJECT_BYTES:,} bytes mlopsc allows one "
                "Kubernetes object",
                source,
            )
        parts.append(text)
    return header.encode() + b"---\n".join(parts)
