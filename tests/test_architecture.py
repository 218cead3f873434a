"""The compiler's boundaries (docs/architecture.md): targets see only the plan and the render
layer, and nothing under compiler/ imports in a cycle."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ROOT / "compiler" / "targets"
# What a target may import from the compiler (a prefix matches its submodules).
ALLOWED = (
    "compiler.plan",
    "compiler.conventions",
    "compiler.conventions_metrics",
    "compiler.slo",  # SLO arithmetic over the plan (burn windows, thresholds), shared with it
    "compiler.canary",  # canary analysis over the plan, shared by Kubernetes and CI
    "compiler.history",  # plain data the CLI hands to the docs target
    "compiler.render",
    "compiler.artifact",
    "compiler.targets",
)


def compiler_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import of a compiler module in a file, absolute or relative."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("compiler")]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                module = "compiler.targets" + (f".{module}" if module else "")
            if module == "compiler":
                found += [(node.lineno, f"compiler.{a.name}") for a in node.names]
            elif module.startswith("compiler"):
                found.append((node.lineno, module))
    return found


def allowed(module: str) -> bool:
    return any(module == a or module.startswith(a + ".") for a in ALLOWED)


def test_targets_import_only_the_plan_conventions_render_and_targets() -> None:
    wrong = [
        f"{path.relative_to(ROOT)}:{line}: imports {module}"
        for path in sorted(TARGETS.glob("*.py"))
        for line, module in compiler_imports(path)
        if not allowed(module)
    ]
    assert wrong == []


def test_targets_never_reach_into_the_raw_spec() -> None:
    wrong = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in sorted(TARGETS.glob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if ".index." in line or "plan.index" in line
    ]
    assert wrong == []


def test_the_plan_does_not_expose_the_raw_spec() -> None:
    import dataclasses

    from compiler.plan import Plan

    fields = {f.name: str(f.type) for f in dataclasses.fields(Plan)}
    assert "index" not in fields
    assert not any("Index" in t or "Project" in t for t in fields.values()), fields


def test_the_checker_sees_relative_and_aliased_imports(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from compiler.spec.models import Model\n"
        "from . import base\n"
        "import compiler.meaning as m\n"
        "from compiler import load\n",
        encoding="utf-8",
    )
    modules = [m for _, m in compiler_imports(probe)]
    assert modules == [
        "compiler.spec.models",
        "compiler.targets",
        "compiler.meaning",
        "compiler.load",
    ]
    assert [allowed(m) for m in modules] == [False, True, False, False]
