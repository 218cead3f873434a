"""Markdown (GitHub Flavored) for the documents people read, and their one jinja2 environment.

Spec text is data until it lands in a document; then it goes through exactly one of:

- `text`: inline prose. HTML is turned into entities (no raw HTML ever reaches a renderer),
  Markdown punctuation is backslash-escaped (no link, image, emphasis, code or table break),
  and line breaks become `<br>` so the value stays inside its paragraph or table cell.
- `code`: an inline code span fenced by a backtick run longer than any run in the value
  (CommonMark 0.31, 6.1), so no value can close it early; `|` is escaped for GFM table cells.
- `comment`: the inside of an HTML comment (`<!-- ... -->`), which no value can close.

HTML documents get jinja2's autoescape instead (`environment` turns it on for `.html`).
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

_SPECIAL = re.compile(r"([\\`*_\[\]|~])")
_LEADING = re.compile(r"^([#>+=-])")
_NUMBERED = re.compile(r"^(\d+)([.)])")
_BACKTICKS = re.compile(r"`+")
# Controls and invisible characters but tab, line feed and carriage return (whitespace,
# folded below): C0 and C1 controls, DEL, line and paragraph separators, the byte-order mark
# and bidirectional overrides (which could show a reader something else than the text).
_CONTROL = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\ufeff\u202a-\u202e\u2066-\u2069]"
)


def _visible(value: object) -> str:
    """`value` as text with every control or invisible character written as `\\uXXXX`."""
    return _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", str(value))


def text(value: object) -> str:
    """Spec text made inert in Markdown: no HTML, no markup, one line (`<br>` between lines)."""
    escaped = _visible(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    escaped = _SPECIAL.sub(r"\\\1", escaped)
    lines = []
    for raw in escaped.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = raw.strip()
        if line:
            lines.append(_NUMBERED.sub(r"\1\\\2", _LEADING.sub(r"\\\1", line)))
    return "<br>".join(lines) or "\u00a0"


def code(value: object, *, cell: bool = True) -> str:
    """An identifier, path or URI as an inline code span that nothing in it can close; in a
    GFM table cell (`cell`, the default) `|` is escaped, which GFM undoes inside the span."""
    content = " ".join(_visible(value).split())
    if cell:
        content = content.replace("|", "\\|")
    if not content:
        return ""
    longest = max((len(run) for run in _BACKTICKS.findall(content)), default=0)
    fence = "`" * (longest + 1)
    # A space on each side keeps a leading or trailing backtick apart from the fence;
    # CommonMark strips exactly one on each side.
    pad = " " if longest else ""
    return f"{fence}{pad}{content}{pad}{fence}"


def comment(value: object) -> str:
    """Text for the inside of an HTML comment: one line that cannot end the comment."""
    flat = " ".join(_visible(value).split())
    return html.escape(flat, quote=False).replace("--", "-&#45;")


def templates() -> Path:
    """The folder of the jinja2 templates: `compiler/templates/` in an installed wheel (where
    packaging puts the repository's top-level `templates/`), else that top-level `templates/`
    beside the package (a source checkout, an editable install)."""
    package = Path(__file__).resolve().parent.parent
    for folder in (package / "templates", package.parent / "templates"):
        if folder.is_dir():
            return folder
    raise FileNotFoundError(f"no templates folder in {package} or beside it")


def environment() -> Any:
    """The jinja2 environment of every document: StrictUndefined everywhere, autoescape for
    `.html` templates, and the Markdown filters `md` (text), `code` and `comment`."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates()),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html", "html.j2"), default_for_string=True
        ),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["md"] = text
    env.filters["code"] = code
    env.filters["comment"] = comment
    return env
