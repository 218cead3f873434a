"""Custom resources judged against their CRD schemas, the way the API server judges them.

The schemas are the `openAPIV3Schema` files in tests/data/crds/ (their README names the upstream
source, commit and license). For each document whose apiVersion and kind have a schema:

- the OpenAPI v3 value checks (types, required, enum, bounds, patterns, anyOf/allOf/oneOf/not)
  run through jsonschema's draft 4 validator, after the Kubernetes extensions are translated:
  `x-kubernetes-int-or-string` (an integer or a string), `nullable` (null allowed only there),
  `x-kubernetes-preserve-unknown-fields` (anything kept below it);
- fields the structural schema does not declare are errors: the API server prunes them
  silently (or refuses them with strict field validation), so an emitted unknown field is a
  setting that never takes effect;
- `x-kubernetes-list-type: map` and `set` lists must not repeat a key or an item;
- `metadata` is checked as ObjectMeta (name, namespace, label keys and values);
- `x-kubernetes-validations` rules that compare with `oldSelf` apply to updates only and are
  skipped; any other rule is reported as not evaluated, so that a refreshed schema cannot make
  the check silently weaker.

Used by the tests as a library (`validate`, `validate_paths`), or run as
`python tests/crd_validate.py FILE_OR_FOLDER...` (exit 0 when nothing failed and something was
checked).
"""

from __future__ import annotations

import functools
import json
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml

CRDS = Path(__file__).resolve().parent / "data" / "crds"

# Keys of the value checks jsonschema runs; everything else (description, default, format,
# example, x-kubernetes-*) is dropped from the translated schema.
_VALUE_KEYS = frozenset(
    {
        "type",
        "enum",
        "required",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "minLength",
        "maxLength",
        "pattern",
        "minItems",
        "maxItems",
        "uniqueItems",
        "minProperties",
        "maxProperties",
    }
)
_OBJECT_META = frozenset(
    {
        "name",
        "generateName",
        "namespace",
        "labels",
        "annotations",
        "finalizers",
        "ownerReferences",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "managedFields",
        "selfLink",
    }
)
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")


def translate(node: Any) -> Any:
    """A CRD schema node as a draft 4 JSON schema with the Kubernetes extensions applied."""
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {k: v for k, v in node.items() if k in _VALUE_KEYS}
    if isinstance(node.get("properties"), dict):
        out["properties"] = {k: translate(v) for k, v in node["properties"].items()}
    if isinstance(node.get("items"), dict):
        out["items"] = translate(node["items"])
    if "additionalProperties" in node:
        extra = node["additionalProperties"]
        out["additionalProperties"] = translate(extra) if isinstance(extra, dict) else extra
    for key in ("anyOf", "allOf", "oneOf"):
        if isinstance(node.get(key), list):
            out[key] = [translate(v) for v in node[key]]
    if isinstance(node.get("not"), dict):
        out["not"] = translate(node["not"])
    if node.get("x-kubernetes-int-or-string") and "type" not in node:
        out["type"] = ["integer", "string"]
    if node.get("nullable"):
        return {"anyOf": [{"type": "null"}, out]}
    return out


@functools.cache
def _raw_schema(group: str, kind: str, version: str) -> dict[str, Any] | None:
    path = CRDS / f"{group}_{kind.lower()}_{version}.json"
    if not path.is_file():
        return None
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


@functools.cache
def _validator(group: str, kind: str, version: str) -> jsonschema.Draft4Validator:
    raw = _raw_schema(group, kind, version)
    assert raw is not None
    return jsonschema.Draft4Validator(translate(raw))


def schema_for(api_version: str, kind: str) -> dict[str, Any] | None:
    """The vendored schema of apiVersion/kind, or None when there is none."""
    group, _, version = api_version.rpartition("/")
    return _raw_schema(group, kind, version) if group else None


def _pointer(path: Iterable[Any]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path) or "."


def _label_errors(where: str, labels: Any) -> list[str]:
    if not isinstance(labels, dict):
        return [f"{where}: not a map"]
    errors = []
    for key, value in labels.items():
        prefix, slash, name = str(key).rpartition("/")
        if not (
            isinstance(key, str)
            and len(name) <= 63
            and _LABEL_NAME.match(name)
            and (not slash or (len(prefix) <= 253 and _DNS_SUBDOMAIN.match(prefix)))
        ):
            errors.append(f"{where}.{key}: invalid label key")
        if not isinstance(value, str) or (
            value and (len(value) > 63 or not _LABEL_NAME.match(value))
        ):
            errors.append(f"{where}.{key}: invalid label value {value!r}")
    return errors


def _meta_errors(meta: Any, where: str) -> list[str]:
    """ObjectMeta as the API server validates it for a namespaced custom resource."""
    if not isinstance(meta, dict):
        return [f"{where}: metadata is not a map"]
    errors = [
        f"{where}.{k}: unknown field (the API server drops it)"
        for k in meta
        if k not in _OBJECT_META
    ]
    name = meta.get("name")
    if name is None and not meta.get("generateName"):
        errors.append(f"{where}.name: required")
    elif name is not None and not (
        isinstance(name, str) and len(name) <= 253 and _DNS_SUBDOMAIN.match(name)
    ):
        errors.append(f"{where}.name: {name!r} is not a DNS-1123 subdomain")
    namespace = meta.get("namespace")
    if namespace is not None and not (
        isinstance(namespace, str) and len(namespace) <= 63 and _DNS_LABEL.match(namespace)
    ):
        errors.append(f"{where}.namespace: {namespace!r} is not a DNS-1123 label")
    if "labels" in meta:
        errors += _label_errors(f"{where}.labels", meta["labels"])
    annotations = meta.get("annotations", {})
    if not isinstance(annotations, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in annotations.items()
    ):
        errors.append(f"{where}.annotations: not a map of strings")
    return errors


def structural_errors(obj: Any, node: Any, where: str, *, root: bool = False) -> Iterator[str]:
    """Unknown fields, repeated list keys, and rules this checker cannot evaluate."""
    if not isinstance(node, dict):
        return
    for rule in node.get("x-kubernetes-validations", []):
        if "oldSelf" not in rule.get("rule", ""):
            yield f"{where}: x-kubernetes-validations rule {rule.get('rule')!r} not evaluated"
    if isinstance(obj, dict):
        props = node.get("properties") or {}
        extra = node.get("additionalProperties")
        keep = node.get("x-kubernetes-preserve-unknown-fields") is True
        embedded = root or node.get("x-kubernetes-embedded-resource") is True
        for key, value in obj.items():
            here = f"{where}.{key}" if where != "." else f".{key}"
            if embedded and key == "metadata":
                yield from _meta_errors(value, here)
            elif key in props:
                yield from structural_errors(value, props[key], here)
            elif isinstance(extra, dict):
                yield from structural_errors(value, extra, here)
            elif not (keep or extra is True or (embedded and key in ("apiVersion", "kind"))):
                yield f"{here}: unknown field (the API server drops it)"
    elif isinstance(obj, list) and isinstance(node.get("items"), dict):
        item = node["items"]
        list_type = node.get("x-kubernetes-list-type")
        seen: set[str] = set()
        for i, value in enumerate(obj):
            if list_type == "set":
                key = json.dumps(value, sort_keys=True)
            elif list_type == "map" and isinstance(value, dict):
                defaults = {k: v.get("default") for k, v in (item.get("properties") or {}).items()}
                key = json.dumps(
                    [
                        value.get(k, defaults.get(k))
                        for k in node.get("x-kubernetes-list-map-keys", [])
                    ]
                )
            else:
                key = ""
            if key and key in seen:
                yield f"{where}[{i}]: repeats {key} in a list of type {list_type}"
            seen.add(key)
            yield from structural_errors(value, item, f"{where}[{i}]")


def validate(doc: dict[str, Any]) -> list[str]:
    """Every error of one custom resource ([] when valid). KeyError when there is no schema."""
    api_version, kind = str(doc.get("apiVersion", "")), str(doc.get("kind", ""))
    group, _, version = api_version.rpartition("/")
    if schema_for(api_version, kind) is None:
        raise KeyError(f"no CRD schema for {api_version} {kind} in {CRDS}")
    raw = _raw_schema(group, kind, version)
    errors = [
        f"{_pointer(e.absolute_path)}: {e.message}"
        for e in sorted(_validator(group, kind, version).iter_errors(doc), key=str)
    ]
    return errors + list(structural_errors(doc, raw, ".", root=True))


@dataclass
class Report:
    """What validate_paths saw: counts, and one line per error naming file, object and field."""

    checked: int = 0
    skipped: int = 0
    errors: list[str] = field(default_factory=list)


def _files(paths: Iterable[str | Path]) -> Iterator[Path]:
    for arg in paths:
        path = Path(arg)
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml"))
        else:
            yield path


def validate_paths(paths: Iterable[str | Path]) -> Report:
    """Check every custom resource with a schema in the YAML files (or folders) given."""
    report = Report()
    for path in _files(paths):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if not isinstance(doc, dict) or "kind" not in doc:
                continue
            if schema_for(str(doc.get("apiVersion", "")), str(doc["kind"])) is None:
                report.skipped += 1
                continue
            report.checked += 1
            name = (doc.get("metadata") or {}).get("name", "?")
            report.errors += [f"{path}: {doc['kind']}/{name}: {e}" for e in validate(doc)]
    return report


def main(argv: list[str]) -> int:
    report = validate_paths(argv)
    for line in report.errors:
        print(line)
    print(
        f"{report.checked} custom resources checked, {len(report.errors)} errors,"
        f" {report.skipped} other documents skipped"
    )
    return 0 if report.checked and not report.errors else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
