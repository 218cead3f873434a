"""Escaping for the pipeline languages of Azure Pipelines, Google Cloud Build and AWS
CloudFormation.

As in compiler/render/actions.py, a spec string never becomes syntax: the targets carry it as
data (a variable, a step's `env`, a file the job reads) and these functions make sure the
system passes that data on literally.
"""

from __future__ import annotations

import re

# Azure Pipelines expands `$(name)` macros in variable values, task inputs and scripts,
# evaluates `${{ … }}` template expressions in any string, and `$[ … ]` runtime expressions
# at the start of a variable's value. Azure has no escape for a macro, so such text is
# refused (the values the Azure target writes are names and paths `validate` restricts).
_AZURE_SYNTAX = re.compile(r"\$[({\[]")

# What no pipeline language can carry on one line: C0/C1 controls, DEL, line separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def azure_value(text: str) -> str:
    """A string Azure Pipelines passes literally (no macro, template or runtime expression)."""
    if _AZURE_SYNTAX.search(text) or _CONTROL.search(text):
        raise ValueError(f"Azure Pipelines would evaluate this text: {text!r}")
    return text


# Characters Azure's branch and path filters cannot hold (its schema's filter pattern).
_AZURE_FILTER_UNSAFE = re.compile(r"[~^: \[\]\\]")


def azure_path_filter(path: str) -> str:
    """A trigger path filter matching `path`: characters a filter cannot hold become the
    one-character wildcard `?` (the filter may then match a little more, never less)."""
    return _AZURE_FILTER_UNSAFE.sub("?", azure_value(path))


def cloudbuild_value(text: str) -> str:
    """A build-config string Cloud Build passes literally: its substitutions (`$VAR`,
    `${VAR}`) apply to every string of a step, and `$$` is the escape for `$`."""
    return text.replace("$", "$$")


def cfn_sub_literal(text: str) -> str:
    """Text `Fn::Sub` leaves as written: `${` is written `${!`."""
    return text.replace("${", "${!")
