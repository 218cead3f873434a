"""What an `artifact.uri` names when it names a registry instead of a storage location."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from compiler.spec.types import MLFLOW_RE, REPO_FILE_RE

RegistryKind = Literal["mlflow", "dvc", "lfs"]

# Schemes KServe's storage initializer downloads from (kserve/storage/storage.py).
SERVABLE_SCHEMES = ("s3://", "gs://", "https://", "http://", "pvc://", "hdfs://", "webhdfs://")


class RegistryDown(Exception):
    """The registry cannot be reached, or answered with a server error (exit 2)."""


class NotInRegistry(Exception):
    """The registry answered: no such model, version, alias or tracked file (exit 1)."""


@dataclass(frozen=True)
class Ref:
    """A registry reference: an MLflow model at a version or alias, or a repository file."""

    kind: RegistryKind
    name: str  # the MLflow model name, or the path relative to the spec's folder
    version: str | None = None
    alias: str | None = None

    @property
    def asked(self) -> str:
        """What the spec asks for: `@alias`, the version, or the path."""
        if self.alias is not None:
            return f"@{self.alias}"
        return self.version if self.version is not None else self.name


def parse_ref(uri: str) -> Ref | None:
    """The registry reference a (validated) URI holds, or None for a plain storage URI."""
    found = MLFLOW_RE.fullmatch(uri)
    if found:
        return Ref("mlflow", found.group("name"), found.group("version"), found.group("alias"))
    repo_file = REPO_FILE_RE.fullmatch(uri)
    if repo_file:
        kind: RegistryKind = "dvc" if repo_file.group("kind") == "dvc" else "lfs"
        return Ref(kind, repo_file.group("path"))
    return None


def servable(uri: str) -> bool:
    """Whether KServe's storage initializer can download from `uri`."""
    return uri.startswith(SERVABLE_SCHEMES)
