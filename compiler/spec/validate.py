"""The model stage: validate loaded data into `Project`, mapping pydantic errors to spans."""

from __future__ import annotations

import types
import typing
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from compiler import diagnostics as dx
from compiler.diagnostics import Sink
from compiler.load import Document, Path, SourceMap, paused_gc
from compiler.spec.models import Project
from compiler.spec.types import Duration, FreeText, _duration

_TYPE_NAMES = {
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "dict_type": "a mapping",
    "list_type": "a list",
    "string_type": "a string",
    "int_type": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "none_required": "empty",
    "date_type": "a date",
}
_CUSTOM = {
    "mlopsc_name": dx.BAD_NAME,
    "mlopsc_ident": dx.BAD_IDENT,
    "mlopsc_duration": dx.BAD_DURATION,
    "mlopsc_quantity": dx.BAD_QUANTITY,
    "mlopsc_cron": dx.BAD_CRON,
    "mlopsc_semver": dx.BAD_SEMVER,
    "mlopsc_image": dx.BAD_IMAGE,
    "mlopsc_date": dx.BAD_DATE,
    "mlopsc_digest": dx.BAD_DIGEST,
    "mlopsc_sli": dx.BAD_SLI,
    "mlopsc_format": dx.BAD_FORMAT,
    "string_pattern_mismatch": dx.BAD_FORMAT,
    "mlopsc_value": dx.BAD_VALUE,
    "mlopsc_range": dx.OUT_OF_RANGE,
}
_RANGE = {
    "greater_than",
    "greater_than_equal",
    "less_than",
    "less_than_equal",
    "too_short",
    "too_long",
    "finite_number",
}


def _kind_of(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if value is None:
        return "empty"
    return "a string"


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """Model classes reachable at one level of an annotation (through Optional, list, dict)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    origin = get_origin(annotation)
    if origin is typing.Annotated:
        return _models_in(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return [m for arg in get_args(annotation) for m in _models_in(arg)]
    return []


def _literal_values(annotation: Any) -> list[str]:
    origin = get_origin(annotation)
    if origin is Literal:
        return [str(a) for a in get_args(annotation)]
    if origin in (Union, types.UnionType, typing.Annotated):
        return [v for arg in get_args(annotation) for v in _literal_values(arg)]
    return []


def model_at(path: Path) -> type[BaseModel] | None:
    """The model class that validates the mapping at `path` of the data."""
    current: Any = Project
    for step in path:
        if isinstance(step, int):
            continue
        if isinstance(current, tuple):  # the step is a key of a dict of models (overrides)
            models = _models_in(current[1])
            current = models[0] if models else None
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = _field(current, step)
        if field is None:
            return None
        annotation = field.annotation
        origin = get_origin(annotation)
        if origin is list:
            annotation = get_args(annotation)[0]
        elif origin is dict:
            current = ("dict", get_args(annotation)[1])
            continue
        models = _models_in(annotation)
        current = models[0] if models else None
        continue
    if isinstance(current, tuple):
        models = _models_in(current[1])
        return models[0] if models else None
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _field(model: type[BaseModel], key: str) -> Any:
    for name, info in model.model_fields.items():
        if key in (name, info.alias):
            return info
    return None


def keys_of(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def _data_path(loc: tuple[Any, ...], data: Any) -> tuple[Path, bool]:
    """The path into the data that a pydantic `loc` names; True when it names a dict key."""
    path: list[str | int] = []
    current = data
    is_key = False
    for step in loc:
        if step == "[key]":
            is_key = True
            break
        if isinstance(current, dict) and isinstance(step, str) and step in current:  # noqa: SIM114
            path.append(step)
            current = current[step]
        elif isinstance(current, list) and isinstance(step, int) and 0 <= step < len(current):
            path.append(step)
            current = current[step]
        elif isinstance(current, dict) and isinstance(step, str) and _is_field_step(step):
            path.append(step)  # a missing key: the path ends past the data
            current = None
        # anything else is a union branch or validator name: not part of the data path
    return tuple(path), is_key


def _is_field_step(step: str) -> bool:
    return not any(ch in step for ch in "[]()") and step not in _TYPE_NAMES


def _context(path: Path) -> str:
    named = [str(p) for p in path if isinstance(p, str)]
    return named[-1] if named else "the spec"


def _report(error: Any, data: dict[str, Any], smap: SourceMap, sink: Sink) -> None:
    kind: str = error["type"]
    path, is_key = _data_path(tuple(error["loc"]), data)
    value = error.get("input")
    message: str = error["msg"]
    hint: str | None = None
    if kind == "extra_forbidden":
        key = str(path[-1])
        model = model_at(path[:-1])
        where = _context(path[:-1])
        code = dx.UNKNOWN_KEY
        message = f"unknown key '{key}' in {where}"
        if model is not None:
            hint = dx.suggest(key, keys_of(model))
            if hint is None:
                hint = "allowed keys: " + ", ".join(keys_of(model))
        sink.error(code, message, smap.key_span(path), hint=hint)
        return
    if kind == "missing":
        key = str(path[-1])
        parent = path[:-1]
        span = (
            smap.key_span(parent) if parent and isinstance(parent[-1], str) else smap.span(parent)
        )
        sink.error(dx.MISSING_KEY, f"missing required key '{key}' in {_context(parent)}", span)
        return
    span = smap.key_span(path) if is_key else smap.span(path)
    if kind in ("literal_error", "enum"):
        expected = _expected(path)
        key = _context(path)
        if key in ("apiVersion", "kind") and len(path) == 1:
            sink.error(dx.BAD_HEADER, f"{key} must be {expected[0]!r}, not {value!r}", span)
            return
        if key == "risk" and value == "unacceptable":
            sink.error(
                dx.BAD_RISK,
                "risk 'unacceptable' is prohibited (EU AI Act Art. 5): such a model may not be deployed",
                span,
            )
            return
        hint = dx.suggest(str(value), expected) if isinstance(value, str) else None
        shown = f"{value!r}" if not isinstance(value, dict | list) else _kind_of(value)
        sink.error(
            dx.BAD_VALUE,
            f"{key}: {shown} is not one of {', '.join(expected)}",
            span,
            hint=hint,
        )
        return
    if kind in _TYPE_NAMES or kind.endswith("_type") or kind == "is_instance_of":
        expected_kind = _TYPE_NAMES.get(kind, kind.removesuffix("_type"))
        subject = "a key" if is_key else _context(path)
        if _is_duration(path) and isinstance(value, int | float) and not isinstance(value, bool):
            sink.error(
                dx.BAD_DURATION,
                f"{subject}: {value} has no unit; durations are an integer and a unit",
                span,
                hint=f"write {value}d, {value}h, {value}m or {value}s",
            )
            return
        sink.error(
            dx.WRONG_TYPE,
            f"{subject} must be {expected_kind}, not {_kind_of(value)}",
            span,
            hint="quote the value if YAML read it as another type"
            if expected_kind == "a string" and not isinstance(value, dict | list)
            else None,
        )
        return
    if kind in _CUSTOM:
        sink.error(_CUSTOM[kind], message, span)
        return
    if kind in _RANGE:
        sink.error(dx.OUT_OF_RANGE, f"{_context(path)}: {message[0].lower()}{message[1:]}", span)
        return
    sink.error(dx.BAD_VALUE, f"{_context(path)}: {message}", span)


def _is_duration(path: Path) -> bool:
    """Whether the field at `path` holds a duration (compiler.spec.types.Duration)."""
    if not path or isinstance(path[-1], int):
        return False
    model = model_at(path[:-1])
    field = _field(model, str(path[-1])) if model is not None else None
    if field is None:
        return False
    annotations = [field.annotation, *get_args(field.annotation)]
    return any(a == Duration for a in annotations) or any(
        getattr(m, "func", None) is _duration for m in field.metadata
    )


def _expected(path: Path) -> list[str]:
    if not path:
        return []
    model = model_at(path[:-1])
    step = path[-1]
    if model is None or isinstance(step, int):
        # a list of literals: look at the field holding the list
        parent = model_at(path[:-2]) if len(path) >= 2 else None
        if parent is not None and isinstance(path[-2], str):
            field = _field(parent, path[-2])
            if field is not None:
                return _literal_values(
                    get_args(field.annotation)[0]
                    if get_args(field.annotation)
                    else field.annotation
                )
        return []
    field = _field(model, str(step))
    return _literal_values(field.annotation) if field is not None else []


def _misspelt(errors: list[Any], data: dict[str, Any]) -> set[Path]:
    """Paths of required keys that an unknown key next to them is a near miss of."""
    found: set[Path] = set()
    for error in errors:
        if error["type"] != "extra_forbidden":
            continue
        path, _ = _data_path(tuple(error["loc"]), data)
        model = model_at(path[:-1])
        if path and model is not None:
            hint = dx.suggest(str(path[-1]), keys_of(model))
            if hint is not None:
                found.add((*path[:-1], hint.split("'")[1]))
    return found


def _free_text(path: Path) -> bool:
    """Whether the string at `path` is free text (compiler.spec.types.Text), or in a list of it."""
    steps = path[:-1] if path and isinstance(path[-1], int) else path
    if not steps or isinstance(steps[-1], int):
        return False
    model = model_at(steps[:-1])
    field = _field(model, steps[-1]) if model is not None else None
    if field is None:
        return False
    return _marked(field.annotation) or any(isinstance(m, FreeText) for m in field.metadata)


def _marked(annotation: Any) -> bool:
    return any(isinstance(a, FreeText) or _marked(a) for a in get_args(annotation))


def _check_controls(doc: Document, sink: Sink) -> set[Path]:
    """Control characters: newlines and tabs in free text only, none anywhere else; the paths
    reported, whose other problems are then left unsaid."""
    flagged: set[Path] = set()
    for path, span in sorted(doc.source_map.controls.items(), key=lambda item: item[1]):
        value = _at(doc.data, path)
        if not isinstance(value, str):
            continue
        allowed = "\n\r\t" if _free_text(path) else ""
        bad = next((c for c in dx.UNPRINTABLE.findall(value) if c not in allowed), None)
        if bad is None:
            continue
        flagged.add(path)
        where = _context(path)
        sink.error(
            dx.CONTROL_CHAR,
            f"{where}: '{value}' holds {dx.char_name(bad)}",
            span,
            hint="only free text (descriptions, card fields, reasons, commands, queries) may "
            "hold newlines and tabs"
            if bad in "\n\r\t"
            else None,
        )
    return flagged


def _at(data: Any, path: Path) -> Any:
    for step in path:
        try:
            data = data[step]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def validate_project(doc: Document, sink: Sink) -> Project | None:
    """Validate the loaded document; report every error with its span; None when invalid."""
    errors_before = len(sink.items)
    flagged = _check_controls(doc, sink) if doc.source_map.controls else set()
    try:
        with paused_gc():
            project = Project.model_validate(doc.data)
        return None if len(sink.items) > errors_before else project
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        misspelt = _misspelt(errors, doc.data)
        seen: set[tuple[Path, str]] = set()
        for error in errors:
            key = (tuple(error["loc"]), error["type"])
            if key in seen:
                continue
            seen.add(key)
            path = _data_path(key[0], doc.data)[0]
            if error["type"] == "missing" and path in misspelt:
                continue  # `framwork:` already says "did you mean 'framework'?"
            if path in flagged:
                continue  # the control character is the problem, said once
            _report(error, doc.data, doc.source_map, sink)
        if (
            len(sink.items) == errors_before
        ):  # pragma: no cover - pydantic always reports at least one error
            sink.error(dx.BAD_VALUE, "the spec is invalid", doc.source_map.span(()))
        return None
