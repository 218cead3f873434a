"""Resolve `models:/NAME@ALIAS` and `models:/NAME/VERSION` with MLflow's own client
(`mlopsc[mlflow]`: mlflow-skinny). Imported by `mlopsc resolve` only."""

from __future__ import annotations

import os
import re
from typing import Any

from compiler.registry.lock import ModelEntry
from compiler.registry.refs import NotInRegistry, Ref, RegistryDown, servable

# Model version tags that carry the artifact's content digest, in the order they are asked.
DIGEST_TAGS = ("digest", "sha256", "mlflow.digest")
_USERINFO = re.compile(r"//[^/@\s]*@")  # credentials in a URL never reach a message
_HEX = re.compile(r"^(sha256:)?([0-9a-f]{64})$")


def _client(tracking_uri: str) -> Any:
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise RegistryDown(
            "resolving models:/ URIs needs MLflow's client: pip install 'mlopsc[mlflow]'"
        ) from None
    # Fail fast when the server is down instead of MLflow's default minutes of retries; a
    # value the user set stays.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def _digest(tags: dict[str, str]) -> str | None:
    for key in DIGEST_TAGS:
        found = _HEX.fullmatch(str(tags.get(key, "")).strip().lower())
        if found:
            return f"sha256:{found.group(2)}"
    return None


_VERSION = re.compile(r"^[0-9]{1,18}$")  # MLflow numbers model versions 1, 2, 3...


def resolve_mlflow(ref: Ref, uri: str, tracking_uri: str) -> ModelEntry:
    """Ask the MLflow registry which version `ref` names and where its files are."""
    from mlflow.exceptions import MlflowException

    client = _client(tracking_uri)
    try:
        if ref.alias is not None:
            found = client.get_model_version_by_alias(ref.name, ref.alias)
        else:
            found = client.get_model_version(ref.name, ref.version)
        version = str(found.version)
        if not _VERSION.match(version):
            # Not an answer about a model version (a proxy, another service): writing it down
            # would leave a lock that every other command refuses.
            raise RegistryDown(_down(tracking_uri, ValueError("no model version in the answer")))
        source = str(found.source or "")
        if not servable(source):
            # MLflow 3 registers a logged model as models:/m-<id>; its files are elsewhere.
            source = str(client.get_model_version_download_uri(ref.name, version))
    except MlflowException as exc:
        code = str(getattr(exc, "error_code", ""))
        if code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
            raise NotInRegistry(_first_line(exc)) from None
        raise RegistryDown(_down(tracking_uri, exc)) from None
    except OSError as exc:  # requests' ConnectionError is an OSError
        raise RegistryDown(_down(tracking_uri, exc)) from None
    return ModelEntry(
        uri=uri,
        registry="mlflow",
        version=version,
        alias=ref.alias,
        storage_uri=source or None,
        digest=_digest(dict(found.tags or {})),
    )


def _down(tracking_uri: str, exc: BaseException) -> str:
    where = _USERINFO.sub("//", tracking_uri)
    return f"cannot reach the MLflow tracking server at {where}, or it failed ({_first_line(exc)})"


def _first_line(exc: BaseException) -> str:
    """The registry's message in one printable line (it reaches a terminal)."""
    text = str(exc).strip().splitlines()
    line = (text[0] if text else type(exc).__name__)[:300]
    return _USERINFO.sub("//", re.sub(r"[\x00-\x1f\x7f-\x9f]", "?", line))
