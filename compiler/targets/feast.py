"""Feast target: a feature repository (feature_store.yaml and features.py) Feast accepts as is.

It reads only the plan. Every name in features.py comes from a validated identifier; every
string from the spec is a literal built by `py_str` (feast_python), never spliced into code;
feature_store.yaml is data written by the YAML writer.
"""

from __future__ import annotations

from typing import Any

from compiler.artifact import Artifact
from compiler.plan import FeatureView, Model, Plan, Source
from compiler.render.yaml import yaml_text
from compiler.targets.base import ModuleTarget
from compiler.targets.feast_python import Call, Code, Raw, Subscript, py_docstring
from compiler.targets.feast_store import project_name, store_yaml

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
SOURCE_CLASS = {
    "file": "FileSource",
    "bigquery": "BigQuerySource",
    "snowflake": "SnowflakeSource",
    "redshift": "RedshiftSource",
    "postgres": "PostgreSQLSource",
    "kafka": "KafkaSource",
}
POSTGRES_SOURCE = "feast.infra.offline_stores.contrib.postgres_offline_store.postgres_source"


# --- the repository ----------------------------------------------------------------------


def timedelta_of(seconds: float) -> Raw:
    """`timedelta(...)` in the largest whole unit of a duration."""
    for unit, size in (("weeks", 604800), ("days", 86400), ("hours", 3600), ("minutes", 60)):
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


def used_sources(plan: Plan) -> list[Source]:
    """Sources a feature view reads, plus the batch sources their kafka sources need."""
    names = {v.source for v in plan.views}
    names |= {plan.stream_batches[n] for n in names if plan.source_by_name[n].kind == "kafka"}
    return [s for s in plan.sources if s.name in names]


def implicit_batches(plan: Plan, sources: list[Source]) -> list[Source]:
    """Kafka sources that name no batch source: each gets a parquet file in the repository."""
    return [
        s
        for s in sources
        if s.kind == "kafka" and plan.stream_batches[s.name] not in plan.source_by_name
    ]


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
        entity = plan.entity_by_name[view.entity]
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
    return Call(
        "KafkaSource",
        [
            *common[:2],
            ("kafka_bootstrap_servers", source.bootstrap_servers),
            ("topic", table),
            ("message_format", Call("JsonFormat", [("schema_json", kafka_schema(plan, source))])),
            ("batch_source", Raw(source_var(plan.stream_batches[source.name]))),
            *common[2:],
        ],
    )


def pii_tags(source: Source) -> dict[str, str] | None:
    if not source.pii_columns:
        return None
    return {"pii_columns": ",".join(sorted(source.pii_columns))}


def view_call(plan: Plan, view: FeatureView) -> Call:
    entity = plan.entity_by_name[view.entity]
    source = plan.source_by_name[view.source]
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
            ("ttl", timedelta_of(plan.feature_ttls[view.name])),
            ("schema", schema),
            ("online", view.online),
            ("source", Raw(source_var(source.name))),
            ("description", view.description),
            ("owner", plan.owner(view.owner).email),
            ("tags", tags or None),
        ],
    )


def service_call(plan: Plan, model: Model) -> Call:
    grouped: dict[str, list[str]] = {}
    for ref in plan.model_features.get(model.name, ()):
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
    if implicit_batches(plan, sources):
        kinds.add("file")
    dtypes = {plan.entity_by_name[v.entity].dtype for v in plan.views} | {
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
    code.add(py_docstring(f"Feast feature repository of {plan.name}."))
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
                    ("description", plan.metadata.description),
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
    for kafka in implicit_batches(plan, sources):
        statements.append(
            (source_var(plan.stream_batches[kafka.name]), kafka_batch_call(plan, kafka))
        )
    # Batch sources first: a kafka source refers to its batch source by variable.
    ordered = sorted(sources, key=lambda s: (s.kind == "kafka", s.name))
    statements.extend((source_var(s.name), source_call(plan, s)) for s in ordered)
    statements.extend((view_var(v.name), view_call(plan, v)) for v in plan.views)
    statements.extend((service_var(m.name), service_call(plan, m)) for m in plan.models)
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
            ("name", plan.stream_batches[source.name]),
            ("timestamp_field", source.timestamp_field),
            ("path", f"data/{source.name}.parquet"),
            ("description", f"History of the kafka topic of source {source.name}"),
            ("owner", plan.owner(source.owner).email),
        ],
    )


def render(plan: Plan) -> list[Artifact]:
    header = plan.header("#")
    return [
        Artifact("feast/feature_store.yaml", yaml_text([store_yaml(plan)], header=header)),
        Artifact("feast/features.py", features_py(plan).encode("utf-8")),
    ]


TARGET = ModuleTarget(NAME, render)
