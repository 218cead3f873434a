"""Versioned models and data: registry references in the spec, `mlops.lock.yaml`, and the
resolvers `mlopsc resolve` runs (MLflow's model registry, DVC, Git LFS).

`build`, `check`, `diff` and `validate` read only the lock (compiler.registry.lock), so they
stay offline and deterministic; the resolvers, and the clients they import, run only in
`mlopsc resolve`.
"""

from __future__ import annotations

from compiler.registry.lock import (
    LOCK_NAME,
    DataEntry,
    Lock,
    ModelEntry,
    dump_lock,
    lock_path,
    read_lock,
)
from compiler.registry.refs import Ref, parse_ref

__all__ = [
    "LOCK_NAME",
    "DataEntry",
    "Lock",
    "ModelEntry",
    "Ref",
    "dump_lock",
    "lock_path",
    "parse_ref",
    "read_lock",
]
