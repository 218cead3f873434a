"""Values that land in CI outputs must be carried as data: refuse what CI would evaluate.

GitHub evaluates `${{ … }}` in almost every string of a workflow, `env:` values included;
GitLab interpolates `$[[ … ]]` in files with inputs and expands `$VAR` in `rules:changes`;
a line break in a CODEOWNERS path starts a new ownership line. The targets escape every value
(compiler/render/actions.py) as well, but a value that cannot mean the same thing everywhere
is refused here, where it can be located.
"""

from __future__ import annotations

import os
import re

from compiler import diagnostics as dx
from compiler.diagnostics import Sink
from compiler.load import Path, SourceMap
from compiler.spec.models import Project

_EVALUATED = (("${{", "a GitHub Actions expression"), ("$[[", "a GitLab CI input"))
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_PARAM_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PATH_ONLY = (("$", "GitLab expands variables in rules:changes"), ("\\", "CODEOWNERS' escape"))


def _problem(text: str, *, path: bool) -> str | None:
    for token, what in _EVALUATED:
        if token in text:
            return f"holds '{token}', which would be evaluated as {what}"
    found = _CONTROL.search(text)
    if found:
        return f"holds the control character U+{ord(found.group()):04X}"
    if path:
        for token, why in _PATH_ONLY:
            if token in text:
                return f"holds '{token}' ({why})"
    return None


def _check(sink: Sink, smap: SourceMap, where: Path, what: str, text: str, *, path: bool) -> None:
    problem = _problem(text, path=path)
    if problem is not None:
        sink.error(
            dx.CI_UNSAFE,
            f"{what} {problem}; it reaches the generated CI files",
            smap.span(where),
            hint="write it without that text (values reach CI as data, never as code)",
        )


def check_ci_values(project: Project, smap: SourceMap, sink: Sink) -> None:
    """Refuse spec text that the generated CI files could not carry as plain data."""
    root = smap.values.get(()) or smap.keys.get(())
    if root is not None:
        name = os.path.basename(root.file)
        problem = _problem(name, path=True)
        if problem is not None:
            sink.error(
                dx.CI_UNSAFE,
                f"the spec's file name {problem}; it reaches the generated CI files",
                dx.Span(root.file),
                hint="rename the spec file",
            )
    for i, pattern in enumerate(project.include):
        _check(sink, smap, ("include", i), "include path", pattern, path=True)
    for i, model in enumerate(project.models):
        base: Path = ("models", i)
        _check(
            sink, smap, (*base, "artifact", "uri"), "artifact.uri", model.artifact.uri, path=False
        )
        training = model.training
        if training is None:
            continue
        for j, word in enumerate(training.command):
            _check(
                sink, smap, (*base, "training", "command", j), "training.command", word, path=False
            )
        for key, value in sorted(training.params.items()):
            if not _PARAM_KEY.match(key):
                sink.error(
                    dx.CI_UNSAFE,
                    f"training.params key '{key}' cannot name an environment variable "
                    f"(MLOPSC_PARAM_<KEY>)",
                    smap.key_span((*base, "training", "params", key)),
                    hint="use letters, digits and '_', not starting with a digit",
                )
            if isinstance(value, str):
                where = (*base, "training", "params", key)
                _check(sink, smap, where, f"training.params.{key}", value, path=False)
