"""The project's own policies: CEL `when`/`require` over one object at a time."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from compiler import diagnostics as dx
from compiler.diagnostics import Sink
from compiler.governance.rules import Result
from compiler.load import Path, SourceMap
from compiler.meaning import Index
from compiler.spec.models import Policy

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

    result = program.eval(data={variable: value})
    if result.type() == cel.Type.ERROR:
        raise CelError(_tidy(str(result.value())))
    plain = result.plain_value()
    if not isinstance(plain, bool):
        raise CelError(f"the expression gave {type(plain).__name__} {plain!r}, not a boolean")
    return plain


def _subjects(ix: Index, kind: str) -> list[tuple[str, dict[str, Any]]]:
    items: list[Any] = getattr(ix.project, SECTION[kind])
    out = []
    for item in items:
        data = item.model_dump(mode="json", by_alias=True)
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
                programs[key] = compile_expression(env, getattr(policy, key))
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
                    hint="guard optional fields with has(), e.g. has(model.card.limitations)",
                )
                continue
            message = f"{kind} '{name}' breaks policy '{policy.id}': {policy.description}"
            yield Result(policy.id, name, ok, message, path)
