"""Render docs/spec.md, the reference of every key of mlops.yaml, from the spec's JSON Schema.

    python scripts/gen_spec_doc.py            # write docs/spec.md
    python scripts/gen_spec_doc.py --check    # exit 1 when docs/spec.md is stale

The schema is the one `mlopsc schema` prints (generated from compiler/spec/models.py), the
diagnostic codes come from compiler/diagnostics.py and the rules from `mlopsc rules`, so the
page cannot drift from the compiler: regenerate it after changing any of them.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from compiler import diagnostics as dx  # noqa: E402
from compiler.governance.rules import RULES  # noqa: E402
from compiler.spec import models  # noqa: E402
from compiler.spec import types as spec_types  # noqa: E402
from compiler.spec.schema import json_schema  # noqa: E402

OUT = ROOT / "docs" / "spec.md"
# The order the sections are written in a spec (as in the examples); the schema sorts keys.
ROOT_ORDER = [
    "apiVersion",
    "kind",
    "include",
    "metadata",
    "teams",
    "environments",
    "sources",
    "entities",
    "features",
    "feature_store",
    "models",
    "slos",
    "governance",
    "outputs",
]

LEXICAL = """\
| thing | form | example |
|---|---|---|
| `metadata.name`, model, SLO, environment, team names | DNS-1123 label `[a-z]([-a-z0-9]*[a-z0-9])?`, at most 40 characters (they prefix generated object names) | `fraud-detector` |
| source, entity, feature view and field names | snake_case identifier `[a-z][a-z0-9_]*` | `customer_txn_stats` |
| durations | positive integer + unit `ms s m h d w`, at most 100 years; an SLO window at least a day | `250ms`, `5m`, `30d` |
| resource quantities | Kubernetes quantity strings | `500m`, `2Gi` |
| cron schedules | 5 fields: minute, hour, day of month, month, day of week (names like `mon`, `jan` allowed) | `0 3 * * 1` |
| model versions | semantic version, no `v` prefix; quote nothing, `3.2.0` stays a string | `3.2.0` |
| images | pinned by digest (`repo@sha256:<64 hex>`), unless a waiver of `BASE-002` says otherwise | `ghcr.io/acme/server@sha256:…` |
| feature references | `view:field`, or `view` for all of its fields | `customer_txn_stats:txn_count_7d` |
| dates (waiver expiry) | ISO date | `2027-03-31` |

YAML is read as YAML 1.2: `on`, `yes` and `no` are strings, not booleans. Anchors, aliases
and merge keys (`<<`) work; custom tags (`!!python/...`), duplicate keys and more than one
document per file are errors. Unknown keys are errors, with a "did you mean" hint.
Nesting is bounded (64 levels), integers fit in 64 bits and numbers are finite.

No key and no value holds a control or invisible character (C0 and C1 controls, DEL,
U+2028/U+2029, byte-order mark, zero-width and bidirectional-override characters), except
newlines (and carriage returns) and tabs in free text: descriptions, model-card fields, waiver reasons, training
commands, events queries and policy expressions (MLC219). `training.params` keys are
environment variable names (`[A-Za-z_][A-Za-z0-9_]*`, unique ignoring case).

`include:` entries are paths or globs relative to the including file that stay inside the
spec's repository (the nearest folder above the spec holding `.git`; outside git, the spec's
folder): no absolute path, no `..` above it, no symlink leading out (MLC115). Globs do not
enter symlinked or hidden folders and stop after 10,000 entries; includes nest at most 16
files deep and add up to at most 2,000 files and 64 MiB (MLC116). Every file read is a regular
file (not a folder, FIFO, device or socket) of at most 16 MiB.
"""


# Pattern → name of the lexical type it belongs to (filled from the schema by `render`).
LEXICAL_NAMES: dict[str, str] = {}


def _known_patterns() -> dict[str, str]:
    """Names of lexical types the schema states only inside required fields."""
    names = {
        "SEMVER_RE": "semantic version",
        "EMAIL_RE": "e-mail address",
        "NAME_RE": "DNS-1123 label, at most 40 characters",
        "IDENT_RE": "snake_case identifier",
        "DURATION_RE": "duration",
        "QUANTITY_RE": "Kubernetes quantity",
        "DIGEST_RE": "sha256 digest",
    }
    known = {}
    for attr, label in names.items():
        regex = getattr(spec_types, attr, None)
        if regex is not None:
            known[regex.pattern] = label
    return known


def collect_lexical_names(node: Any, *, typed: bool = False) -> None:
    """Lexical types carry their description where the schema states them alone: in an
    anyOf branch, list items or map values; a field of that type shows the field's instead."""
    if isinstance(node, dict):
        if typed and node.get("pattern") and node.get("description"):
            LEXICAL_NAMES.setdefault(node["pattern"], node["description"])
        for key, value in node.items():
            inner = key in ("anyOf", "items")
            if key == "patternProperties" and isinstance(value, dict):
                for sub in value.values():
                    collect_lexical_names(sub, typed=True)
                continue
            collect_lexical_names(value, typed=inner)
    elif isinstance(node, list):
        for value in node:
            collect_lexical_names(value, typed=typed)


def field_order(name: str) -> list[str]:
    """Keys of a section in the order the model declares them (the schema sorts them)."""
    cls = getattr(models, name, None)
    fields = getattr(cls, "model_fields", None)
    if not isinstance(fields, dict):
        return []
    return [f.alias or key for key, f in fields.items()]


def anchor(name: str) -> str:
    return name.lower()


def describe_type(node: dict[str, Any]) -> str:
    """A short, human type of a schema node: `list of [Team](#team)`, `string (cron)`, …"""
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{anchor(name)})"
    if "anyOf" in node:
        parts = [describe_type(p) for p in node["anyOf"] if p.get("type") != "null"]
        nullable = any(p.get("type") == "null" for p in node["anyOf"])
        text = " or ".join(parts) or "null"
        return f"{text}, or null" if nullable and len(parts) > 1 else text
    if "const" in node:
        return f"`{json.dumps(node['const'])}`"
    if "enum" in node:
        return " | ".join(f"`{v}`" for v in node["enum"])
    kind = node.get("type")
    if kind == "array":
        inner = describe_type(node.get("items", {}))
        bounds = f", at least {node['minItems']}" if node.get("minItems") else ""
        return f"list of {inner}{bounds}"
    if kind == "object":
        values = node.get("additionalProperties")
        if "patternProperties" in node:
            values = next(iter(node["patternProperties"].values()))
        key = node.get("propertyNames", {}).get("description", "string")
        if isinstance(values, dict) and values:
            return f"map of {key} → {describe_type(values)}"
        return "mapping"
    if kind in ("integer", "number"):
        lo = node.get("minimum", node.get("exclusiveMinimum"))
        hi = node.get("maximum", node.get("exclusiveMaximum"))
        lo_op = ">" if "exclusiveMinimum" in node else "≥"
        hi_op = "<" if "exclusiveMaximum" in node else "≤"
        limits = [f"{lo_op} {lo}" for _ in [lo] if lo is not None]
        limits += [f"{hi_op} {hi}" for _ in [hi] if hi is not None]
        return str(kind) + (f" ({', '.join(limits)})" if limits else "")
    if kind == "string":
        what = LEXICAL_NAMES.get(node.get("pattern", ""))
        if node.get("format") == "date" and not what:
            what = "date"
        if not what and node.get("pattern"):
            what = f"matching `{node['pattern']}`"
        if node.get("maxLength") and "at most" not in (what or ""):
            what = (
                f"{what}, ≤ {node['maxLength']} chars" if what else f"≤ {node['maxLength']} chars"
            )
        return f"string ({what})" if what else "string"
    if kind == "boolean":
        return "boolean"
    return str(kind or "any")


def default_of(name: str, node: dict[str, Any], required: set[str]) -> str:
    if name in required:
        return "**required**"
    if "default" in node:
        value = node["default"]
        if value is None:
            return "—"
        return f"`{json.dumps(value, ensure_ascii=False)}`"
    if node.get("type") == "array":
        return "`[]`"
    if node.get("type") == "object":
        return "`{}`"
    return "see its section"


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table(node: dict[str, Any], order: list[str] | None = None) -> Iterator[str]:
    props: dict[str, Any] = node.get("properties", {})
    required = set(node.get("required", []))
    names = [n for n in order or [] if n in props] + sorted(
        n for n in props if n not in (order or [])
    )
    yield "| key | type | default | meaning |"
    yield "|---|---|---|---|"
    for name in names:
        prop = props[name]
        yield (
            f"| `{name}` | {cell(describe_type(prop))} | {cell(default_of(name, prop, required))} "
            f"| {cell(prop.get('description', ''))} |"
        )


def refs_of(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if "$ref" in node:
            yield node["$ref"].rsplit("/", 1)[-1]
        for value in node.values():
            yield from refs_of(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs_of(value)


def section_order(schema: dict[str, Any]) -> list[str]:
    """Definitions in the order a reader meets them, walking the spec from its top."""
    defs = schema["$defs"]
    seen: list[str] = []
    queue = [r for key in ROOT_ORDER for r in refs_of(schema["properties"].get(key, {}))]
    while queue:
        name = queue.pop(0)
        if name in seen or name not in defs:
            continue
        seen.append(name)
        queue.extend(refs_of(defs[name]))
    return seen + sorted(n for n in defs if n not in seen)


def where_used(schema: dict[str, Any]) -> dict[str, list[str]]:
    """For each definition, the keys that hold it (`models[].serving`)."""
    used: dict[str, list[str]] = {}

    def walk(node: dict[str, Any], path: str, depth: int) -> None:
        if depth > 8:
            return
        for key, prop in node.get("properties", {}).items():
            here = f"{path}.{key}" if path else key
            if prop.get("type") == "array":
                here += "[]"
            elif prop.get("type") == "object" and "patternProperties" in prop:
                here += ".<name>"
            for ref in dict.fromkeys(refs_of(prop)):
                used.setdefault(ref, [])
                if here not in used[ref]:
                    used[ref].append(here)
                    walk(schema["$defs"][ref], here, depth + 1)

    walk(schema, "", 0)
    return used


def render() -> str:
    schema = json_schema()
    LEXICAL_NAMES.update(_known_patterns())
    collect_lexical_names(schema)
    used = where_used(schema)
    lines = [
        "<!-- Generated by scripts/gen_spec_doc.py from the spec's JSON Schema; do not edit. -->",
        "",
        "# mlops.yaml reference (spec v1)",
        "",
        "One YAML file declares an ML project; `mlopsc validate` checks it and `mlopsc build`",
        "compiles it. This page lists every key with its type, default and meaning. It is",
        "generated from the same models that validate specs, so it cannot drift from them; the",
        f"machine-readable form is the JSON Schema (`mlopsc schema`, `{schema['$id']}`).",
        "",
        "Contents: [lexical rules](#lexical-rules) · [top level](#top-level) · "
        "[sections](#sections) · [meaning checks](#meaning-checks) · "
        "[governance rules](#governance-rules) · [all diagnostic codes](#diagnostic-codes)",
        "",
        "## Lexical rules",
        "",
        LEXICAL,
        "## Top level",
        "",
        *table(schema, ROOT_ORDER),
        "",
        "## Sections",
        "",
    ]
    for name in section_order(schema):
        node = schema["$defs"][name]
        lines.append(f"### {name}")
        lines.append("")
        if used.get(name):
            paths = ", ".join(f"`{p}`" for p in used[name][:4])
            more = f" and {len(used[name]) - 4} more" if len(used[name]) > 4 else ""
            lines.append(f"At {paths}{more}.")
            lines.append("")
        if node.get("description"):
            lines.append(node["description"])
            lines.append("")
        if node.get("properties"):
            lines.extend(table(node, field_order(name)))
        else:
            lines.append("An empty mapping: `{}`.")
        lines.append("")

    codes = dx.codes()
    lines += [
        "## Meaning checks",
        "",
        "What the schema alone cannot say, checked after it (codes `MLC3xx`): every name a key",
        "refers to exists, names are unique, and values make sense together. `mlopsc explain CODE`",
        "says more about each.",
        "",
        "| code | check |",
        "|---|---|",
        *(f"| `{c}` | {cell(codes[c].summary)} |" for c in sorted(codes) if c.startswith("MLC3")),
        "",
        "## Governance rules",
        "",
        "Built-in rule packs, enabled by `governance.frameworks` (`baseline` by default). A rule",
        "failing on an object is an error (or warning) unless a `governance.waivers` entry",
        "with the rule id and the object's name covers it. The same list: `mlopsc rules`.",
        "",
        "| id | pack | severity | rule | source |",
        "|---|---|---|---|---|",
        *(
            f"| `{r.id}` | {r.pack} | {r.severity} | {cell(r.title)} | {cell(r.source)} |"
            for r in sorted(RULES.values(), key=lambda r: r.id)
        ),
        "",
        "Project policies (`governance.policies`) are CEL expressions over one object at a time:",
        "`model`, `feature`, `source` or `slo`, as named by `applies_to`, with the keys above.",
        "A key the spec leaves out is absent, not null: guard it with `has()`, as in",
        "`!has(model.explainability) || model.explainability.method != 'none'`. A field the",
        "object's kind does not have (`model.risks`) is a compile error (MLC320), at its column;",
        "an expression that exceeds the runtime's evaluation budget is MLC321.",
        "",
        "## Diagnostic codes",
        "",
        "| code | meaning |",
        "|---|---|",
        *(f"| `{c}` | {cell(codes[c].summary)} |" for c in sorted(codes)),
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description="Render docs/spec.md from the spec's schema.")
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/spec.md is stale")
    args = parser.parse_args()
    text = render()
    if args.check:
        current = OUT.read_text(encoding="utf-8") if OUT.exists() else ""
        if current != text:
            print("docs/spec.md is stale: run python scripts/gen_spec_doc.py", file=sys.stderr)
            return 1
        return 0
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
