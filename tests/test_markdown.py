"""compiler.render.markdown: spec text stays text in GitHub Flavored Markdown."""

from __future__ import annotations

import html as htmllib
import re

import pytest
from markdown_check import assert_inert, gfm

from compiler.render.markdown import code, comment, text

HOSTILE = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(2)>',
    "s3://b/``<img/src=x/onerror=alert(3)>``/m",
    "s3://b/```<img src=x onerror=alert(4)>```",
    "`<b>one</b>`",
    "`` ` ``",
    "a\\|<i>b</i>|`c`",
    "[click](javascript:alert(5)) ![x](http://e/x.png)",
    "<!-- comment --> --> --!> <![CDATA[x]]>",
    "&lt;script&gt; &#60;img src=x onerror=alert(6)&#62;",
    "line\n# heading\n\n| a | b |\n|---|---|\n- item\n1. one\n    indented code",
    "*em* _em_ ~~del~~ **strong** \\",
    "\x00\x1b[31mred\x7f",
    "admin\u202egnp.exe\u2028# line\u0085x\ufeff",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_text_is_inert_and_kept(value: str) -> None:
    doc = f"| a |\n|---|\n| {text(value)} |\n\nbefore {text(value)} after\n"
    shown = assert_inert(doc)
    for word in ("alert", "script", "onerror"):
        assert shown.count(word) == 2 * value.count(word)
    assert gfm(doc).count("<tr>") == 2  # the value stayed in its one cell


@pytest.mark.parametrize("value", HOSTILE)
def test_code_span_cannot_be_closed(value: str) -> None:
    doc = f"| a |\n|---|\n| {code(value)} |\n\nsee {code(value)}\n"
    html = gfm(doc)
    assert_inert(doc)
    assert html.count("<code>") == 2 and html.count("</code>") == 2
    # The span shows the value (whitespace folded, control characters dropped).
    invisible = "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\ufeff\u202a-\u202e\u2066-\u2069]"
    kept = re.sub(invisible, lambda m: f"\\u{ord(m.group()):04x}", value)
    shown = " ".join(kept.split())
    inner = html.split("<code>")[1].split("</code>")[0]
    assert htmllib.unescape(inner) == shown


def test_invisible_characters_are_shown() -> None:
    assert text("a\u202eb\x1b") == "a\\\\u202eb\\\\u001b"
    assert code("a\u202eb") == "`a\\u202eb`"
    assert "\u202e" not in comment("x\u202e")


def test_code_outside_a_table_keeps_pipes() -> None:
    assert code("a|b", cell=False) == "`a|b`"
    assert "<code>a|b</code>" in gfm(f"see {code('a|b', cell=False)}\n")
    assert "<code>a|b</code>" in gfm(f"| x |\n|---|\n| {code('a|b')} |\n")


def test_code_fences() -> None:
    assert code("a|b") == "`a\\|b`"
    assert code("a`b") == "`` a`b ``"
    assert code("a``b") == "``` a``b ```"
    assert code("`") == "`` ` ``"
    assert code("") == ""


def test_text_shapes() -> None:
    assert text("<script>") == "&lt;script&gt;"
    assert text("a | b") == "a \\| b"
    assert text("# h\nnext") == "\\# h<br>next"
    assert text("1. a") == "1\\. a"
    assert text("") == "\u00a0"


@pytest.mark.parametrize("value", ["x --> <script>alert(1)</script>", "a\n--!>b", "<!--"])
def test_comment_cannot_be_closed(value: str) -> None:
    doc = f"<!-- {comment(value)} -->\n# title\n"
    html = gfm(doc)
    assert html.count("-->") == 1 and "<script" not in html
    assert "<h1>title</h1>" in html


def test_environment_is_strict_and_escapes_html_only() -> None:
    import jinja2

    from compiler.render.markdown import environment

    env = environment()
    assert env.undefined is jinja2.StrictUndefined
    with pytest.raises(jinja2.UndefinedError):
        env.from_string("{{ missing }}").render()
    assert env.autoescape("compliance-report.html.j2")
    assert not env.autoescape("model-card.md.j2")
