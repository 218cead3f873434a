"""A small evaluator of GitLab CI `rules:` for the subset mlopsc generates.

It answers: given a pipeline's trigger (its source, branch, tag, variables and changed files),
which jobs does GitLab create, and how (`on_success` or `manual`)? Supported: `extends` (deep
merge of mappings), `rules` with `if` (`==`, `!=`, `&&`, `||`, parentheses, `$VAR`, quoted
strings), `changes` (globs; always true in pipelines without a push event, as in GitLab) and
`when`; jobs without `rules` are always created. Anything else in an `if` raises, so a rule
outside the subset cannot silently evaluate to something.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

TOKEN = re.compile(r'\s*(?:(\$[A-Za-z_][A-Za-z0-9_]*)|("(?:[^"\\]|\\.)*")|(==|!=|&&|\|\||\(|\)))')
PUSH_EVENTS = {"push", "merge_request_event"}
KEYWORDS = {"variables", "stages", "include", "default", "workflow"}


@dataclass
class Trigger:
    """What started a pipeline."""

    source: str  # push, merge_request_event, schedule, web
    branch: str | None = None
    tag: str | None = None
    default_branch: str = "main"
    changed: list[str] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)

    def scope(self, pipeline: dict[str, Any]) -> dict[str, str]:
        values: dict[str, str] = {}
        for key, value in pipeline.get("variables", {}).items():
            values[key] = value["value"] if isinstance(value, dict) else str(value)
        values.update({"CI_PIPELINE_SOURCE": self.source, "CI_DEFAULT_BRANCH": self.default_branch})
        if self.branch is not None and self.source != "merge_request_event":
            values["CI_COMMIT_BRANCH"] = self.branch
        if self.tag is not None:
            values["CI_COMMIT_TAG"] = self.tag
        values.update(self.variables)
        return values


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        match = TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise ValueError(f"outside the supported rules:if subset: {text[pos:]!r}")
        out.append(next(g for g in match.groups() if g is not None))
        pos = match.end()
        while pos < len(text) and text[pos] == " ":
            pos += 1
    return out


class _Parser:
    def __init__(self, text: str, scope: dict[str, str]) -> None:
        self.tokens = _tokens(text)
        self.pos = 0
        self.scope = scope

    def take(self) -> str:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def parse(self) -> bool:
        value = self.disjunction()
        if self.peek() is not None:
            raise ValueError(f"unexpected {self.peek()!r}")
        return value

    def disjunction(self) -> bool:
        value = self.conjunction()
        while self.peek() == "||":
            self.take()
            right = self.conjunction()
            value = value or right
        return value

    def conjunction(self) -> bool:
        value = self.atom()
        while self.peek() == "&&":
            self.take()
            right = self.atom()
            value = value and right
        return value

    def operand(self) -> str | None:
        token = self.take()
        if token.startswith("$"):
            return self.scope.get(token[1:])
        if token.startswith('"'):
            return token[1:-1].replace('\\"', '"')
        raise ValueError(f"expected a variable or a string, got {token!r}")

    def atom(self) -> bool:
        if self.peek() == "(":
            self.take()
            value = self.disjunction()
            if self.take() != ")":
                raise ValueError("unbalanced parentheses")
            return value
        left = self.operand()
        if self.peek() in ("==", "!="):
            op = self.take()
            right = self.operand()
            return (left == right) if op == "==" else (left != right)
        return bool(left)


def evaluate_if(text: str, scope: dict[str, str]) -> bool:
    """The value of a `rules:if` expression in a pipeline's variables."""
    return _Parser(text, scope).parse()


def _glob(pattern: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out + r"\Z")


def _changes(patterns: list[str], trigger: Trigger) -> bool:
    if trigger.source not in PUSH_EVENTS:
        return True  # GitLab: without a push event, `changes` is always true
    return any(_glob(p).match(path) for p in patterns for path in trigger.changed)


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def resolve(pipeline: dict[str, Any], name: str) -> dict[str, Any]:
    """A job with its `extends` chain merged in, as GitLab does."""
    job = pipeline[name]
    parents = job.get("extends", [])
    merged: dict[str, Any] = {}
    for parent in [parents] if isinstance(parents, str) else parents:
        merged = _merge(merged, resolve(pipeline, parent))
    return _merge(merged, {k: v for k, v in job.items() if k != "extends"})


def jobs(pipeline: dict[str, Any], trigger: Trigger) -> dict[str, str]:
    """The jobs GitLab creates for the trigger: name → when (on_success, manual, …)."""
    scope = trigger.scope(pipeline)
    created: dict[str, str] = {}
    for name in pipeline:
        if name in KEYWORDS or name.startswith("."):
            continue
        job = resolve(pipeline, name)
        if "rules" not in job:
            created[name] = job.get("when", "on_success")
            continue
        for rule in job["rules"]:
            if "if" in rule and not evaluate_if(rule["if"], scope):
                continue
            if "changes" in rule and not _changes(rule["changes"], trigger):
                continue
            when = rule.get("when", "on_success")
            if when != "never":
                created[name] = when
            break
    return created


def needs_problems(pipeline: dict[str, Any], created: dict[str, str]) -> list[str]:
    """`needs` that name a job the pipeline does not create (GitLab refuses such pipelines)."""
    problems = []
    for name in created:
        for need in resolve(pipeline, name).get("needs", []):
            target = need["job"] if isinstance(need, dict) else need
            if target not in created:
                problems.append(f"{name} needs {target}, which this pipeline does not create")
    return problems
