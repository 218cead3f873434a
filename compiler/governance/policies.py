"""The project's own policies: CEL `when`/`require` over one object at a time."""

from __future__ import annotations

import re
import types
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel

from compiler import diagnostics as dx
from compiler.diagnostics import Sink
from compiler.governance.rules import Result
from compiler.load import Path, SourceMap
from compiler.meaning import Index
from compiler.spec.models import FeatureView, Model, Policy, Slo, Source

_POSITION = re.compile(r"<input>:(\d+):(\d+): ([^\n]*)")
SECTION = {"model": "models", "feature": "features", "source": "sources", "slo": "slos"}


class CelError(Exception):
    """A CEL expression failed to compile or evaluate."""

    def __init__(self, message: str, column: int | None = None) -> None:
        super().__init__(message)
        self.column = column


@dataclass
class Compiled:
    policy: Policy
    index: int
    when: Any
    require: Any


def _env(variable: str) -> Any:
    from cel_expr_python import cel
    from cel_expr_python.ext import ext_optional, ext_strings

    return cel.NewEnv(
        variables={variable: cel.Type.DYN},
        extensions=[ext_strings.ExtStrings(), ext_optional.ExtOptional()],
    )


def _tidy(message: str) -> str:
    """CEL's messages without the C++ status prefix and the empty container note."""
    message = message.strip().removesuffix(" (in container '')")
    message = re.sub(r"^[A-Z_]+: ", "", message)
    missing = re.fullmatch(r'Key not found in map ?: ?"(.*)"', message)
    return f"no key '{missing.group(1)}'" if missing else message


def compile_expression(env: Any, source: str) -> Any:
    """Compile and type-check one boolean CEL expression, or raise CelError."""
    from cel_expr_python import cel

    try:
        program = env.compile(source)
    except RuntimeError as exc:
        found = _POSITION.findall(str(exc))
        if found:
            _, column, message = found[0]
            raise CelError(_tidy(message), int(column)) from None
        raise CelError(str(exc).splitlines()[0]) from None
    result_type = program.return_type()
    if result_type != cel.Type.BOOL and result_type != cel.Type.DYN:
        raise CelError(f"the expression gives {result_type.name().lower()}, not a boolean")
    return program


def evaluate(program: Any, variable: str, value: dict[str, Any]) -> bool:
    """Evaluate a compiled expression; CEL returns errors as values, so check the type."""
    from cel_expr_python import cel

    try:
        result = program.eval(data={variable: value})
    except RuntimeError as exc:  # the runtime's own limits, e.g. "Iteration budget exceeded"
        raise CelError(_tidy(str(exc).removesuffix(" [INTERNAL]"))) from None
    if result.type() == cel.Type.ERROR:
        raise CelError(_tidy(str(result.value())))
    plain = result.plain_value()
    if not isinstance(plain, bool):
        raise CelError(f"the expression gave {type(plain).__name__} {plain!r}, not a boolean")
    return plain


SUBJECT_MODELS: dict[str, type[BaseModel]] = {
    "model": Model,
    "feature": FeatureView,
    "source": Source,
    "slo": Slo,
}
# `model.serving.rollout` and the like: a selection chain on a subject variable (the CEL
# grammar's IDENT and field selection), checked against the spec's models.
_CHAIN = re.compile(r"(?<![\w.])(model|feature|source|slo)((?:\s*\.\s*[A-Za-z_][A-Za-z0-9_]*)+)")
_STEP = re.compile(r"\.\s*([A-Za-z_][A-Za-z0-9_]*)")
_STRING = re.compile(
    "[rRbB]{0,2}(?:"
    + "|".join(
        (
            r"'{3}[\s\S]*?'{3}",
            r'"{3}[\s\S]*?"{3}',
            r"'(?:\\.|[^'\\\n])*'",
            r'"(?:\\.|[^"\\\n])*"',
        )
    )
    + ")"
)


def check_selections(source: str, variable: str) -> None:
    """CelError at the first field a selection on `variable` names that its kind lacks.

    The CEL runtime types the subject as `dyn` (it declares message types only through
    protobuf descriptors), so `model.risks` would compile and fail only on the objects that
    reach it; this check finds the typo at compile time, against the spec's own models.
    """
    blanked = _STRING.sub(lambda m: " " * len(m.group()), source)
    for chain in _CHAIN.finditer(blanked):
        if chain.group(1) != variable:
            continue
        current: Any = SUBJECT_MODELS[variable]
        where = variable
        for step in _STEP.finditer(chain.group(2)):
            name = step.group(1)
            fields = {info.alias or key: info for key, info in current.model_fields.items()}
            if name not in fields:
                hint = dx.suggest(name, fields)
                column = chain.start(2) + step.start(1) + 1
                line = source.count("\n", 0, column - 1)
                raise CelError(
                    f"{where} has no field '{name}'" + (f"; {hint}" if hint else ""),
                    column if line == 0 else None,
                )
            inner = _model_of(fields[name].annotation)
            if inner is None:
                break  # a list, a map or a scalar: what follows is CEL's, not the spec's
            current = inner
            where = f"{where}.{name}"


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The model class an annotation holds directly (through Optional), else None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (Union, types.UnionType):
        found = [_model_of(arg) for arg in get_args(annotation)]
        models = [m for m in found if m is not None]
        return models[0] if len(models) == 1 else None
    return None


def _subjects(ix: Index, kind: str) -> list[tuple[str, dict[str, Any]]]:
    items: list[Any] = getattr(ix.project, SECTION[kind])
    out = []
    for item in items:
        # An unset optional field is absent, not null, so that has() tells them apart:
        # `has(model.explainability) && model.explainability.method != 'none'` must hold up.
        data = item.model_dump(mode="json", by_alias=True, exclude_none=True)
        if kind in ("model", "feature", "source") and data.get("owner") is None:
            data["owner"] = ix.project.metadata.owner
        out.append((item.name, data))
    return out


def compile_policies(ix: Index, smap: SourceMap, sink: Sink) -> list[Compiled]:
    """Compile every policy; report syntax and type errors at the expression's line."""
    compiled: list[Compiled] = []
    envs: dict[str, Any] = {}
    for i, policy in enumerate(ix.project.governance.policies):
        env = envs.get(policy.applies_to) or envs.setdefault(
            policy.applies_to, _env(policy.applies_to)
        )
        programs: dict[str, Any] = {}
        for key in ("when", "require"):
            try:
                source = getattr(policy, key)
                check_selections(source, policy.applies_to)
                programs[key] = compile_expression(env, source)
            except CelError as exc:
                where = f" at column {exc.column}" if exc.column else ""
                sink.error(
                    dx.POLICY_SYNTAX,
                    f"policy '{policy.id}' {key}{where}: {exc}",
                    smap.span(("governance", "policies", i, key)),
                    hint=f"variables: {policy.applies_to}" if "undeclared" in str(exc) else None,
                )
        if len(programs) == 2:
            compiled.append(Compiled(policy, i, programs["when"], programs["require"]))
    return compiled


def run_policies(
    compiled: list[Compiled], ix: Index, smap: SourceMap, sink: Sink
) -> Iterator[Result]:
    """Evaluate each compiled policy on every object of its kind."""
    for item in compiled:
        policy = item.policy
        kind = policy.applies_to
        for position, (name, data) in enumerate(_subjects(ix, kind)):
            path: Path = (SECTION[kind], position, "name")
            try:
                if not evaluate(item.when, kind, data):
                    continue
                ok = evaluate(item.require, kind, data)
            except CelError as exc:
                sink.error(
                    dx.POLICY_EVAL,
                    f"policy '{policy.id}' failed on {kind} '{name}': {exc}",
                    smap.span(("governance", "policies", item.index, "require")),
                    hint="the runtime bounds the work of one evaluation; iterate over less"
                    if "budget" in str(exc)
                    else "guard optional fields with has(), e.g. has(model.card.limitations)",
                )
                continue
            message = f"{kind} '{name}' breaks policy '{policy.id}': {policy.description}"
            yield Result(policy.id, name, ok, message, path)
