"""Feast target: a feature repository (feature_store.yaml and features.py) Feast accepts as is.

features.py is written in ruff-format's own layout (every call and collection exploded, with a
magic trailing comma) so that it is format-clean without running a formatter at build time.
Every name in it comes from a validated identifier; every string from the spec is a literal
built by `py_str`, never spliced into code.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from compiler.artifact import Artifact
from compiler.plan import Plan
from compiler.render.yaml import yaml_text
from compiler.spec.models import FeatureStore, FeatureView, Source
from compiler.spec.types import UNITS, duration_seconds
from compiler.targets.base import ModuleTarget

NAME = "feast"

# spec dtype → (Feast type in feast.types, ValueType member, Spark DDL type for Kafka JSON)
DTYPES: dict[str, tuple[str, str, str]] = {
    "int32": ("Int32", "INT32", "int"),
    "int64": ("Int64", "INT64", "bigint"),
    "float32": ("Float32", "FLOAT", "float"),
    "float64": ("Float64", "DOUBLE", "double"),
    "string": ("String", "STRING", "string"),
    "bool": ("Bool", "BOOL", "boolean"),
    "bytes": ("Bytes", "BYTES", "binary"),
    "unix_timestamp": ("UnixTimestamp", "UNIX_TIMESTAMP", "timestamp"),
}
# What each offline store can read (Feast ties an offline store to its own source class).
READS: dict[str, frozenset[str]] = {
    "file": frozenset({"file", "kafka"}),
    "dask": frozenset({"file", "kafka"}),
    "duckdb": frozenset({"file", "kafka"}),
    "bigquery": frozenset({"bigquery", "kafka"}),
    "snowflake": frozenset({"snowflake", "kafka"}),
    "redshift": frozenset({"redshift", "kafka"}),
    "postgres": frozenset({"postgres", "kafka"}),
}
SOURCE_CLASS = {
    "file": "FileSource",
    "bigquery": "BigQuerySource",
    "snowflake": "SnowflakeSource",
    "redshift": "RedshiftSource",
    "postgres": "PostgreSQLSource",
    "kafka": "KafkaSource",
}
POSTGRES_SOURCE = "feast.infra.offline_stores.contrib.postgres_offline_store.postgres_source"
INDENT = "    "


# --- Python literals ---------------------------------------------------------------------


def py_str(value: str) -> str:
    """A Python string literal for any text, quoted the way ruff-format prefers."""
    quote = "'" if value.count('"') > value.count("'") else '"'
    out = []
    for ch in value:
        if ch == "\\":
            out.append("\\\\")
        elif ch == quote:
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif not ch.isprintable():
            code = ord(ch)
            out.append(
                f"\\x{code:02x}"
                if code < 0x100
                else f"\\u{code:04x}"
                if code < 0x10000
                else f"\\U{code:08x}"
            )
        else:
            out.append(ch)
    return quote + "".join(out) + quote


class Code:
    """Python source in ruff-format layout: exploded calls and collections."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, line: str = "", depth: int = 0) -> None:
        self.lines.append(INDENT * depth + line if line else "")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def value_lines(value: Any, depth: int) -> list[str]:
    """An expression, exploded over lines when it is a collection or a call."""
    if isinstance(value, (Call, Subscript)):
        return value.lines(depth)
    if isinstance(value, Raw):
        return [value.code]
    if isinstance(value, str):
        return [py_str(value)]
    if isinstance(value, bool):
        return ["True" if value else "False"]
    if isinstance(value, int):
        return [str(value)]
    if isinstance(value, list):
        if not value:
            return ["[]"]
        lines = ["["]
        for item in value:
            inner = value_lines(item, depth + 1)
            lines.extend(_indent([*inner[:-1], inner[-1] + ","], depth + 1))
        return [*lines, INDENT * depth + "]"]
    if isinstance(value, dict):
        if not value:
            return ["{}"]
        lines = ["{"]
        for key, item in value.items():
            inner = value_lines(item, depth + 1)
            inner[0] = f"{py_str(key)}: {inner[0]}"
            lines.extend(_indent([*inner[:-1], inner[-1] + ","], depth + 1))
        return [*lines, INDENT * depth + "}"]
    raise TypeError(f"no Python literal for {type(value).__name__}")


def _indent(lines: list[str], depth: int) -> list[str]:
    """Indent the first line; later lines already carry their own indentation."""
    return [INDENT * depth + lines[0], *lines[1:]]


class Raw:
    """Code written by this module (a name or a call), never text from the spec."""

    def __init__(self, code: str) -> None:
        self.code = code


class Subscript:
    """`var[["a", "b"]]`: a feature view projected onto some of its fields, exploded."""

    def __init__(self, var: str, names: list[str]) -> None:
        self.var = var
        self.names = names

    def lines(self, depth: int) -> list[str]:
        inner = value_lines(self.names, depth + 1)
        return [f"{self.var}[", INDENT * (depth + 1) + inner[0], *inner[1:], INDENT * depth + "]"]


class Call:
    """`func(key=value, ...)` with keyword arguments, exploded one per line."""

    def __init__(self, func: str, kwargs: Iterable[tuple[str, Any]]) -> None:
        self.func = func
        self.kwargs = [(k, v) for k, v in kwargs if v is not None]

    def lines(self, depth: int) -> list[str]:
        if not self.kwargs:
            return [f"{self.func}()"]
        lines = [f"{self.func}("]
        for key, value in self.kwargs:
            inner = value_lines(value, depth + 1)
            inner[0] = f"{key}={inner[0]}"
            lines.extend(_indent([*inner[:-1], inner[-1] + ","], depth + 1))
        return [*lines, INDENT * depth + ")"]


# --- the repository ----------------------------------------------------------------------


def project_name(name: str) -> str:
    """Feast project names allow letters, digits and '_' (sqlite table names): '-' becomes '_'."""
    return name.replace("-", "_")


def timedelta_of(duration: str) -> Raw:
    """`timedelta(...)` in the largest whole unit of a validated duration."""
    seconds = duration_seconds(duration)
    for unit, size in (
        ("weeks", UNITS["w"]),
        ("days", UNITS["d"]),
        ("hours", UNITS["h"]),
        ("minutes", UNITS["m"]),
    ):
        if seconds >= size and seconds % size == 0:
            return Raw(f"timedelta({unit}={int(seconds // size)})")
    if seconds == int(seconds):
        return Raw(f"timedelta(seconds={int(seconds)})")
    return Raw(f"timedelta(milliseconds={round(seconds * 1000)})")


def entity_var(name: str) -> str:
    return f"entity_{name}"


def source_var(name: str) -> str:
    return f"source_{name}"


def view_var(name: str) -> str:
    return f"view_{name}"


def service_var(model: str) -> str:
    return f"service_{model.replace('-', '_')}"


def batch_name(source: str) -> str:
    """Name of the parquet batch source made for a kafka source that names none."""
    return f"{source}_batch"


def used_sources(plan: Plan) -> list[Source]:
    """Sources a feature view reads, plus the batch sources their kafka sources need."""
    by_name = {s.name: s for s in plan.sources}
    names = {v.source for v in plan.views}
    store = plan.index.project.feature_store
    for name in list(names):
        if by_name[name].kind == "kafka" and name in store.batch_sources:
            names.add(store.batch_sources[name])
    return [s for s in plan.sources if s.name in names]


def table_parts(table: str, names: tuple[str, ...]) -> list[tuple[str, Any]]:
    """Split db.schema.table into the keyword arguments a warehouse source takes."""
    parts = table.split(".")
    if len(parts) > len(names):
        parts = [
            ".".join(parts[: len(parts) - len(names) + 1]),
            *parts[len(parts) - len(names) + 1 :],
        ]
    return list(zip(names[len(names) - len(parts) :], parts, strict=True))


def kafka_schema(plan: Plan, source: Source) -> str:
    """Spark DDL of the topic's JSON messages: join keys, fields and timestamp of its views."""
    columns: dict[str, str] = {}
    for view in plan.views:
        if view.source != source.name:
            continue
        entity = plan.index.entities[view.entity]
        for key in entity.join_keys:
            columns[key] = DTYPES[entity.dtype][2]
        for fld in view.fields:
            columns[fld.name] = DTYPES[fld.dtype][2]
    columns[source.timestamp_field] = "timestamp"
    return ", ".join(f"{name} {kind}" for name, kind in sorted(columns.items()))


def source_call(plan: Plan, source: Source) -> Call:
    owner = plan.owner(source.owner).email
    common: list[tuple[str, Any]] = [
        ("name", source.name),
        ("timestamp_field", source.timestamp_field),
        ("description", source.description),
        ("owner", owner),
        ("tags", pii_tags(source)),
    ]
    table = source.table or ""
    if source.kind == "file":
        return Call("FileSource", [*common[:2], ("path", source.path), *common[2:]])
    if source.kind == "bigquery":
        return Call("BigQuerySource", [*common[:2], ("table", table), *common[2:]])
    if source.kind == "snowflake":
        return Call(
            "SnowflakeSource",
            [*common[:2], *table_parts(table, ("database", "schema", "table")), *common[2:]],
        )
    if source.kind == "redshift":
        return Call(
            "RedshiftSource",
            [*common[:2], *table_parts(table, ("database", "schema", "table")), *common[2:]],
        )
    if source.kind == "postgres":
        return Call("PostgreSQLSource", [*common[:2], ("table", table), *common[2:]])
    store = plan.index.project.feature_store
    batch = store.batch_sources.get(source.name)
    return Call(
        "KafkaSource",
        [
            *common[:2],
            ("kafka_bootstrap_servers", source.bootstrap_servers),
            ("topic", table),
            ("message_format", Call("JsonFormat", [("schema_json", kafka_schema(plan, source))])),
            ("batch_source", Raw(source_var(batch or batch_name(source.name)))),
            *common[2:],
        ],
    )


def pii_tags(source: Source) -> dict[str, str] | None:
    if not source.pii_columns:
        return None
    return {"pii_columns": ",".join(sorted(source.pii_columns))}


def view_call(plan: Plan, view: FeatureView) -> Call:
    entity = plan.index.entities[view.entity]
    source = plan.index.sources[view.source]
    schema: list[Any] = [
        Call("Field", [("name", key), ("dtype", Raw(DTYPES[entity.dtype][0]))])
        for key in entity.join_keys
    ]
    for fld in view.fields:
        schema.append(
            Call(
                "Field",
                [
                    ("name", fld.name),
                    ("dtype", Raw(DTYPES[fld.dtype][0])),
                    ("description", fld.description),
                    ("tags", {"pii": "true"} if fld.pii else None),
                ],
            )
        )
    tags = dict(sorted(view.tags.items()))
    pii = sorted(f.name for f in view.fields if f.pii)
    if pii:
        tags["pii_fields"] = ",".join(pii)
    return Call(
        "FeatureView",
        [
            ("name", view.name),
            ("entities", [Raw(entity_var(entity.name))]),
            ("ttl", timedelta_of(view.ttl)),
            ("schema", schema),
            ("online", view.online),
            ("source", Raw(source_var(source.name))),
            ("description", view.description),
            ("owner", plan.owner(view.owner).email),
            ("tags", tags or None),
        ],
    )


def service_call(plan: Plan, model_name: str) -> Call:
    model = plan.index.models[model_name]
    grouped: dict[str, list[str]] = {}
    for ref in plan.model_features.get(model_name, ()):
        grouped.setdefault(ref.view, []).append(ref.field)
    features = [Subscript(view_var(view), fields) for view, fields in grouped.items()]
    return Call(
        "FeatureService",
        [
            ("name", model.name),
            ("features", features),
            ("description", model.description),
            ("owner", plan.owner(model.owner).email),
            ("tags", {"model_version": model.version, "risk": model.risk}),
        ],
    )


def features_py(plan: Plan) -> str:
    sources = used_sources(plan)
    kinds = {s.kind for s in sources}
    store = plan.index.project.feature_store
    for kafka in (s for s in sources if s.kind == "kafka"):
        if kafka.name not in store.batch_sources:
            kinds.add("file")
    dtypes = {plan.index.entities[v.entity].dtype for v in plan.views} | {
        f.dtype for v in plan.views for f in v.fields
    }
    feast_names = sorted(
        {"Entity", "FeatureService", "FeatureView", "Field", "ValueType"}
        | {"Project"}
        | {SOURCE_CLASS[k] for k in kinds if k != "postgres"}
    )
    code = Code()
    for line in plan.header("#").splitlines():
        code.add(line)
    code.add('"""Feast feature repository of ' + plan.name + '."""')
    code.add()
    code.add("from datetime import timedelta")
    code.add()
    code.add("from feast import (")
    for name in feast_names:
        code.add(f"{name},", 1)
    code.add(")")
    if "kafka" in kinds:
        code.add("from feast.data_format import JsonFormat")
    if "postgres" in kinds:
        code.add(f"from {POSTGRES_SOURCE} import (")
        code.add("PostgreSQLSource,", 1)
        code.add(")")
    type_names = sorted(DTYPES[d][0] for d in dtypes)
    if type_names:
        code.add("from feast.types import (")
        for name in type_names:
            code.add(f"{name},", 1)
        code.add(")")
    statements: list[tuple[str, Call]] = [
        (
            "project",
            Call(
                "Project",
                [
                    ("name", project_name(plan.name)),
                    ("description", plan.index.project.metadata.description),
                ],
            ),
        )
    ]
    for entity in plan.entities:
        statements.append(
            (
                entity_var(entity.name),
                Call(
                    "Entity",
                    [
                        ("name", entity.name),
                        ("join_keys", list(entity.join_keys)),
                        ("value_type", Raw(f"ValueType.{DTYPES[entity.dtype][1]}")),
                        ("description", entity.description),
                    ],
                ),
            )
        )
    for kafka in (s for s in sources if s.kind == "kafka" and s.name not in store.batch_sources):
        statements.append((source_var(batch_name(kafka.name)), kafka_batch_call(plan, kafka)))
    # Batch sources first: a kafka source refers to its batch source by variable.
    ordered = sorted(sources, key=lambda s: (s.kind == "kafka", s.name))
    statements.extend((source_var(s.name), source_call(plan, s)) for s in ordered)
    statements.extend((view_var(v.name), view_call(plan, v)) for v in plan.views)
    statements.extend((service_var(m.name), service_call(plan, m.name)) for m in plan.models)
    for var, call in statements:
        code.add()
        lines = call.lines(0)
        code.add(f"{var} = {lines[0]}")
        for line in lines[1:]:
            code.add(line)
    return code.text()


def kafka_batch_call(plan: Plan, source: Source) -> Call:
    return Call(
        "FileSource",
        [
            ("name", batch_name(source.name)),
            ("timestamp_field", source.timestamp_field),
            ("path", f"data/{source.name}.parquet"),
            ("description", f"History of the kafka topic of source {source.name}"),
            ("owner", plan.owner(source.owner).email),
        ],
    )


def store_yaml(plan: Plan) -> dict[str, Any]:
    store: FeatureStore = plan.index.project.feature_store
    online: dict[str, Any] = {"type": store.online_store.type}
    on = store.online_store
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
    off = store.offline_store
    offline: dict[str, Any] = {"type": "snowflake.offline" if off.type == "snowflake" else off.type}
    if off.type == "bigquery":
        offline.update(
            _present(project_id=off.project_id, dataset=off.dataset, location=off.location)
        )
    elif off.type == "snowflake":
        offline.update(
            _present(
                account=off.account,
                user=off.user,
                role=off.role,
                warehouse=off.warehouse,
                database=off.database,
            )
        )
    elif off.type == "redshift":
        offline.update(
            _present(
                cluster_id=off.cluster_id,
                region=off.region,
                database=off.database,
                user=off.user,
                s3_staging_location=off.s3_staging_location,
                iam_role=off.iam_role,
            )
        )
    elif off.type == "postgres":
        offline.update(_present(host=off.host, port=off.port, database=off.database, user=off.user))
    if off.password_env and off.type in ("snowflake", "postgres"):
        offline["password"] = f"${{{off.password_env}}}"
    return {
        "project": project_name(plan.name),
        "provider": store.provider,
        "registry": store.registry,
        "online_store": online,
        "offline_store": offline,
        "entity_key_serialization_version": 3,
    }


def _present(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def render(plan: Plan) -> list[Artifact]:
    header = plan.header("#")
    return [
        Artifact("feast/feature_store.yaml", yaml_text([store_yaml(plan)], header=header)),
        Artifact("feast/features.py", features_py(plan).encode("utf-8")),
    ]


TARGET = ModuleTarget(NAME, render)
