"""compiler.diff.compare: object-by-object and field-by-field comparison of two snapshots."""

from __future__ import annotations

from compiler.diff.compare import (
    UNSET,
    Action,
    FieldChange,
    compare_objects,
    compare_values,
    data_snapshot,
    show,
)


def test_leaves_with_dotted_paths_and_keyed_lists() -> None:
    out: list[FieldChange] = []
    old = {"a": {"b": 1, "c": [1, 2]}, "items": [{"name": "x", "v": 1}, {"name": "y", "v": 2}]}
    new = {"a": {"b": 2, "c": [1, 2]}, "items": [{"name": "y", "v": 3}, {"name": "x", "v": 1}]}
    compare_values(old, new, "", out)
    assert [f.text for f in out] == ["a.b: 1 → 2", "items[y].v: 2 → 3"]


def test_unset_differs_from_null() -> None:
    out: list[FieldChange] = []
    compare_values({"a": None}, {}, "", out)
    assert out == [FieldChange("a", None, UNSET)]
    assert out[0].text == "a: null → (unset)"


def test_show_shortens_digests() -> None:
    digest = "sha256:" + "ab" * 32
    assert show(f"img@{digest}") == "img@sha256:abababababab…"
    assert show(["a", 1]) == "[a, 1]"
    assert show({}) == "{}"


def test_objects_added_removed_changed_in_spec_order() -> None:
    old = data_snapshot(
        {
            "metadata": {"name": "p"},
            "models": [{"name": "a", "version": "1"}, {"name": "b"}],
            "governance": {"waivers": [{"rule": "R", "target": "a", "reason": "x"}]},
        }
    )
    new = data_snapshot(
        {
            "metadata": {"name": "p"},
            "models": [{"name": "a", "version": "2"}, {"name": "c"}],
            "teams": [{"name": "t"}],
            "governance": {"waivers": [{"rule": "R", "target": "a", "reason": "y"}]},
        }
    )
    changes = compare_objects(old, new)
    assert [(c.kind, c.name, c.action) for c in changes] == [
        ("team", "t", Action.ADDED),
        ("model", "a", Action.CHANGED),
        ("model", "b", Action.REMOVED),
        ("model", "c", Action.ADDED),
        ("waiver", "R on a", Action.CHANGED),
    ]


def test_a_new_spec_is_all_added() -> None:
    new = data_snapshot({"metadata": {"name": "p"}, "models": [{"name": "a"}]})
    assert [(c.kind, c.action) for c in compare_objects(None, new)] == [("model", Action.ADDED)]
