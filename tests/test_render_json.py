"""json_text writes exactly what json.dumps(indent=2, ensure_ascii=False) writes."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.render.yaml import json_text

_LEAF = st.none() | st.booleans() | st.integers() | st.floats() | st.text()
_DATA = st.recursive(
    _LEAF,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(), inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.integers(), inner, max_size=2)
    ),
    max_leaves=30,
)


def _reference(data: Any) -> bytes:
    return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


@settings(max_examples=500, deadline=None)
@given(_DATA)
def test_same_bytes_as_json_dumps(data: Any) -> None:
    assert json_text(data) == _reference(data)


def test_escapes_and_special_numbers() -> None:
    data = {'a\n"b': ["é\u2028", float("nan"), float("-inf"), 1e100, -0.0, True, None, {}, []]}
    assert json_text(data) == _reference(data)
