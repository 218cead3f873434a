"""compiler/render/yaml.py: whatever it writes, YAML 1.1 and 1.2 readers read back unchanged."""

from __future__ import annotations

import io
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from compiler.render.yaml import dump, scalar_str

TRICKY = [
    "on", "off", "yes", "no", "y", "n", "true", "False", "null", "~", "", " ", "-", "- a", ":",
    "a: b", "a #b", "#x", "1", "1.0", "1e3", "0o17", "0x1f", "017", "1_000", "12:30", "2027-03-31",
    ".inf", "-.inf", ".nan", "@sha256:x", "*x", "&x", "!x", "%x", "|", ">", "'q'", '"q"', "{{window}}",
    "[a]", "{a: b}", "a\nb", "a\nb\n", "a\n\n", " lead", "trail ", "tab\there", "\u2028", "é", "3.2.0",
    "500m", "2Gi", "0 3 * * 1", "s3://bucket/x/", "ghcr.io/a/b@sha256:" + "a" * 64, "=", "<<", "?x",
    "x?", "a,b", "$(HOME)", "rate(x[5m])", "line one\n  indented\nlast",
]  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False),
    st.sampled_from(TRICKY),
    st.text(max_size=30),
)
data = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.one_of(st.sampled_from(TRICKY), st.text(max_size=10)), children, max_size=4
        ),
    ),
    max_leaves=25,
)


def read_both(text: str) -> tuple[Any, Any]:
    pyyaml = yaml.safe_load(text)
    ruamel = YAML(typ="safe", pure=True).load(io.StringIO(text))
    return pyyaml, ruamel


@settings(max_examples=400, deadline=None)
@given(data)
def test_round_trip_through_yaml_1_1_and_1_2(value: Any) -> None:
    text = dump(value)
    pyyaml, ruamel = read_both(text)
    assert pyyaml == value
    assert ruamel == value


def test_tricky_strings_stay_strings() -> None:
    for text in TRICKY:
        doc = dump({"k": text, "l": [text]})
        assert read_both(doc) == ({"k": text, "l": [text]},) * 2, doc


def test_readable_style() -> None:
    doc = {
        "apiVersion": "v1",
        "metadata": {"labels": {"a": "b"}},
        "items": [{"x": 1, "y": [2]}],
        "e": {},
    }
    assert dump(doc) == (
        "apiVersion: v1\nmetadata:\n  labels:\n    a: b\nitems:\n- x: 1\n  'y':\n  - 2\ne: {}\n"
    )
    assert scalar_str("3.2.0") == "'3.2.0'"
    assert scalar_str('run "$X"') == "'run \"$X\"'"
    assert scalar_str("it's") == "'it''s'"
    assert scalar_str("payments-ml") == "payments-ml"
    assert dump({"run": "echo a\necho b\n"}) == "run: |\n  echo a\n  echo b\n"
    assert dump({"script": ["a\nb\n", "c"]}) == "script:\n- |\n  a\n  b\n- c\n"
