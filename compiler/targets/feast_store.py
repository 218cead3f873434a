"""feature_store.yaml of the Feast repository: project, registry, online and offline stores.

Data for the YAML writer; each store's settings are the keys its Feast config class takes.
"""

from __future__ import annotations

from typing import Any

from compiler.plan import OfflineStore, Plan

# Feast's offline store type names (feast.repo_config.OFFLINE_STORE_CLASS_FOR_TYPE, 0.67):
# `hybrid` is the routing store; the snowflake store registers as `snowflake.offline`.
STORE_TYPE = {"snowflake": "snowflake.offline"}
HYBRID = "hybrid"


def project_name(name: str) -> str:
    """Feast project names allow letters, digits and '_' (sqlite table names): '-' becomes '_'."""
    return name.replace("-", "_")


def online_yaml(plan: Plan) -> dict[str, Any]:
    on = plan.feature_store.online_store
    online: dict[str, Any] = {"type": on.type}
    if on.type == "sqlite":
        online["path"] = on.path
    elif on.type == "redis":
        conn = on.connection_string or "localhost:6379"
        online["connection_string"] = conn + (
            f",password=${{{on.password_env}}}" if on.password_env else ""
        )
    elif on.type == "postgres":
        online.update(_present(host=on.host, port=on.port, database=on.database, user=on.user))
        if on.password_env:
            online["password"] = f"${{{on.password_env}}}"
    elif on.type == "dynamodb":
        online.update(_present(region=on.region))
    elif on.type == "datastore":
        online.update(_present(project_id=on.project_id))
    return online


def offline_conf(off: OfflineStore) -> dict[str, Any]:
    """The settings of one offline store, as its Feast config class takes them."""
    if off.type == "bigquery":
        conf = _present(project_id=off.project_id, dataset=off.dataset, location=off.location)
    elif off.type == "snowflake":
        conf = _present(
            account=off.account,
            user=off.user,
            role=off.role,
            warehouse=off.warehouse,
            database=off.database,
        )
    elif off.type == "redshift":
        conf = _present(
            cluster_id=off.cluster_id,
            region=off.region,
            database=off.database,
            user=off.user,
            s3_staging_location=off.s3_staging_location,
            iam_role=off.iam_role,
        )
    elif off.type == "postgres":
        conf = _present(host=off.host, port=off.port, database=off.database, user=off.user)
    else:
        conf = {}
    if off.password_env and off.type in ("snowflake", "postgres"):
        conf["password"] = f"${{{off.password_env}}}"
    return conf


def offline_yaml(plan: Plan) -> dict[str, Any]:
    """One store, or Feast's hybrid store routing each view to the store of its source kind."""
    stores = plan.offline_stores
    if len(stores) == 1:
        return {"type": STORE_TYPE.get(stores[0].type, stores[0].type), **offline_conf(stores[0])}
    return {
        "type": HYBRID,
        "offline_stores": [
            {"type": STORE_TYPE.get(off.type, off.type), "conf": offline_conf(off)}
            for off in stores
        ],
    }


def store_yaml(plan: Plan) -> dict[str, Any]:
    store = plan.feature_store
    return {
        "project": project_name(plan.name),
        "provider": store.provider,
        "registry": store.registry,
        "online_store": online_yaml(plan),
        "offline_store": offline_yaml(plan),
        "entity_key_serialization_version": 3,
    }


def _present(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}
