"""compiler/diagnostics.py: the sink, suggestions and the four renderers."""

from __future__ import annotations

import json

from compiler import diagnostics as dx
from compiler.diagnostics import Diagnostic, Severity, Sink, Span

ITEMS = [
    Diagnostic(
        "MLC302",
        Severity.ERROR,
        "unknown feature 'a:b'",
        Span("b.yaml", 3, 9),
        "did you mean 'a:c'?",
    ),
    Diagnostic("GDPR-004", Severity.WARNING, "uses 50% PII, really", Span("a.yaml", 10, 2)),
    Diagnostic("BASE-003", Severity.NOTE, "waived: x", Span("a.yaml", 2, 1)),
]


def test_sink_sorts_and_deduplicates() -> None:
    sink = Sink()
    for d in [*ITEMS, ITEMS[0]]:
        sink.add(d)
    assert [d.span for d in sink.sorted()] == [
        Span("a.yaml", 2, 1),
        Span("a.yaml", 10, 2),
        Span("b.yaml", 3, 9),
    ]
    assert sink.has_errors
    quiet = Sink()
    quiet.warning("MLC323", "w", Span("x"))
    quiet.note("X", "n", Span("x"))
    assert not quiet.has_errors


def test_suggest() -> None:
    assert dx.suggest("framwork", ["framework", "version"]) == "did you mean 'framework'?"
    assert dx.suggest("Staging", ["staging"]) == "did you mean 'staging'?"
    assert dx.suggest("prod", ["staging", "production"]) == "did you mean 'production'?"
    assert dx.suggest("zzz", ["framework"]) is None
    assert dx.suggest("pr", ["production", "preview"]) is None


def test_every_code_is_registered_once_with_a_summary() -> None:
    registry = dx.codes()
    assert len(registry) >= 50
    for code, entry in registry.items():
        assert code == entry.code and entry.summary
        assert code[:3] == "MLC" and code[3] in "1234"


def test_text() -> None:
    text = dx.render_text(ITEMS[:1])
    assert text == "b.yaml:3:9: error[MLC302]: unknown feature 'a:b'\n  hint: did you mean 'a:c'?\n"
    assert dx.render_text([]) == ""


def test_json() -> None:
    data = json.loads(dx.render_json(ITEMS))
    assert data[0] == {
        "file": "b.yaml",
        "line": 3,
        "column": 9,
        "severity": "error",
        "code": "MLC302",
        "message": "unknown feature 'a:b'",
        "hint": "did you mean 'a:c'?",
    }
    assert data[1]["hint"] is None


def test_github_escapes() -> None:
    lines = dx.render_github(ITEMS).splitlines()
    assert (
        lines[0]
        == "::error file=b.yaml,line=3,col=9,title=MLC302::unknown feature 'a:b'%0Adid you mean 'a:c'?"
    )
    assert lines[1] == "::warning file=a.yaml,line=10,col=2,title=GDPR-004::uses 50%25 PII, really"
    assert lines[2].startswith("::notice ")
    odd = Diagnostic("X", Severity.ERROR, "m", Span("a,b:c.yaml"))
    assert dx.render_github([odd]).startswith("::error file=a%2Cb%3Ac.yaml,")


def test_sarif_structure() -> None:
    doc = json.loads(dx.render_sarif(ITEMS, version="9.9", rules={"MLC302": "unknown feature"}))
    assert doc["version"] == "2.1.0" and doc["$schema"].startswith("https://")
    [run] = doc["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert run["tool"]["driver"]["name"] == "mlopsc" and run["tool"]["driver"]["version"] == "9.9"
    assert [r["id"] for r in rules] == sorted(r["id"] for r in rules)
    assert {r["id"] for r in rules} == {d.code for d in ITEMS}
    assert len(run["results"]) == len(ITEMS)
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["level"] in ("error", "warning", "note")
        assert result["message"]["text"]
        [location] = result["locations"]
        physical = location["physicalLocation"]
        assert physical["artifactLocation"]["uri"].endswith(".yaml")
        region = physical["region"]
        assert region["startLine"] >= 1 and region["startColumn"] >= 1
    first = next(r for r in run["results"] if r["ruleId"] == "MLC302")
    assert first["level"] == "error"
    assert first["message"]["text"] == "unknown feature 'a:b' (did you mean 'a:c'?)"
    assert first["locations"][0]["physicalLocation"]["region"] == {"startLine": 3, "startColumn": 9}


def test_control_characters_are_escaped_in_every_renderer() -> None:
    from compiler import diagnostics as dxm

    hostile = dxm.Diagnostic(
        "MLC201",
        dxm.Severity.ERROR,
        "unknown key 'a\nmlops.yaml:1:1: error[MLC000]: forged\x1b[2J\u2028\u202e'",
        dxm.Span("dir\n/mlops.yaml", 3, 4),
        hint="try\r\nthis",
    )
    text = dxm.render_text([hostile])
    assert text.count("\n") == 2  # the diagnostic line and its hint, nothing forged
    assert "a\\nmlops.yaml:1:1" in text and "\\x1b[2J\\u2028\\u202e" in text
    assert text.startswith("dir\\n/mlops.yaml:3:4: ")
    github = dxm.render_github([hostile])
    assert github.count("\n") == 1 and "\x1b" not in github and "\u2028" not in github
    for rendered in (
        dxm.render_json([hostile]),
        dxm.render_sarif([hostile], version="0", rules={}),
    ):
        assert not dxm.UNPRINTABLE.search(rendered.replace("\n", ""))
        assert "\\u2028\\u202e" in rendered
