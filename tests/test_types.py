"""compiler/spec/types.py: every lexical type, valid and invalid."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from compiler.spec import types as t

DIGEST = "sha256:" + "ab" * 32


def ok(kind: Any, value: Any) -> Any:
    return TypeAdapter(kind).validate_python(value)


def error_type(kind: Any, value: Any) -> str:
    with pytest.raises(ValidationError) as info:
        TypeAdapter(kind).validate_python(value)
    return str(info.value.errors()[0]["type"])


CASES: list[tuple[Any, list[Any], list[Any], str]] = [
    (
        t.Name,
        ["a", "fraud-detector", "m1", "a" * 40],
        ["A", "-a", "a-", "a_b", "1a", "a" * 41, ""],
        "mlopsc_name",
    ),
    (t.Ident, ["a", "customer_txn_stats", "x9_"], ["A", "_a", "a-b", "9a", ""], "mlopsc_ident"),
    (
        t.Duration,
        ["250ms", "5m", "30d", "1w", "1s", "2h"],
        ["0d", "5", "5 m", "1.5s", "5M", "-1d", "5y"],
        "mlopsc_duration",
    ),
    (
        t.Quantity,
        ["500m", "2", "2Gi", "0.5", "512Mi", "1e3", ".5"],
        ["2GB", "1.5 cores", "-1", "m", "2gi"],
        "mlopsc_quantity",
    ),
    (
        t.Cron,
        [
            "0 3 * * 1",
            "*/15 * * * *",
            "0 0 1 1 0",
            "59 23 31 12 7",
            "0 9-17 * * mon-fri",
            "0 0 * jan,jul sun",
            "5,10 * * * *",
        ],
        [
            "60 * * * *",
            "* 24 * * *",
            "* * 0 * *",
            "* * 32 * *",
            "* * * 13 *",
            "* * * * 8",
            "0 3 * *",
            "0 3 * * * *",
            "*/0 * * * *",
            "5-1 * * * *",
            "x * * * *",
            "1-2-3 * * * *",
        ],
        "mlopsc_cron",
    ),
    (
        t.SemVer,
        ["3.2.0", "0.0.1", "1.0.0-rc.1", "1.0.0+build.5", "10.20.30"],
        ["3.2", "v1.0.0", "01.0.0", "1.0", "1.0.0.0"],
        "mlopsc_semver",
    ),
    (
        t.Digest,
        [DIGEST],
        ["sha256:" + "AB" * 32, "sha256:abc", "md5:" + "ab" * 16, DIGEST[7:]],
        "mlopsc_digest",
    ),
    (
        t.Image,
        [
            "ghcr.io/acme/x@" + DIGEST,
            "ghcr.io/acme/x:1.0",
            "nginx",
            "localhost:5000/a/b:tag@" + DIGEST,
            "registry.example.com/a_b/c-d:v1",
        ],
        ["ghcr.io/Acme/x", "ghcr.io/acme/x:", "ghcr.io/acme/x@sha256:abc", "a b", "x:" + "t" * 200],
        "mlopsc_image|mlopsc_digest",
    ),
    (t.Email, ["a@example.com"], ["a@b", "nope", "a @b.c"], "mlopsc_format"),
    (
        t.Uri,
        ["s3://b/k", "gs://b/k/", "https://x/y", "models:/fraud/12"],
        ["b/k", "models:/fraud/latest", "models:/fraud", "s3 ://x"],
        "mlopsc_format",
    ),
    (
        t.LabelKey,
        ["cost-center", "app.kubernetes.io/name", "a"],
        ["-a", "a/", "A/b", "a" * 64],
        "mlopsc_format",
    ),
    (t.LabelValue, ["cc-1234", "", "A.b_c"], ["-a", "a" * 64, "a b"], "mlopsc_format"),
    (t.PolicyId, ["canary-for-high", "x_1"], ["1x", "a b", "a" * 64], "mlopsc_format"),
]


@pytest.mark.parametrize(
    ("kind", "good", "bad", "code"),
    CASES,
    ids=[c[3].split("|")[0] + str(i) for i, c in enumerate(CASES)],
)
def test_lexical_type(kind: Any, good: list[Any], bad: list[Any], code: str) -> None:
    for value in good:
        assert ok(kind, value) == value
    for value in bad:
        assert error_type(kind, value) in code.split("|"), value


def test_numbers_read_by_yaml() -> None:
    assert ok(t.Quantity, 2) == "2"
    assert ok(t.Quantity, 0.5) == "0.5"
    assert ok(t.LabelValue, 1234) == "1234"
    assert error_type(t.SemVer, 3.2) == "mlopsc_semver"
    assert error_type(t.SemVer, 3) == "mlopsc_semver"


def test_messages_name_the_problem() -> None:
    with pytest.raises(ValidationError) as info:
        ok(t.Cron, "0 25 * * *")
    assert "the hour field '25'" in str(info.value)
    with pytest.raises(ValidationError) as info:
        ok(t.Image, "ghcr.io/acme/x@sha256:abc")
    assert "the digest 'sha256:abc'" in str(info.value)
    with pytest.raises(ValidationError) as info:
        ok(t.SemVer, 3.10)
    assert "'3.1' was read as a number" in str(info.value)


def test_dates() -> None:
    import datetime as dt

    assert ok(t.Date, "2027-03-31") == dt.date(2027, 3, 31)
    assert ok(t.Date, dt.date(2027, 3, 31)) == dt.date(2027, 3, 31)
    for bad in ("2027-02-30", "31/03/2027", "next year", 20270331):
        assert error_type(t.Date, bad) == "mlopsc_date"


def test_helpers() -> None:
    assert t.duration_seconds("250ms") == 0.25
    assert t.duration_seconds("2w") == 1_209_600
    with pytest.raises(ValueError):
        t.duration_seconds("soon")
    assert t.image_digest("ghcr.io/a/b:1@" + DIGEST) == DIGEST
    assert t.image_digest("ghcr.io/a/b:1") is None
    assert t.image_repository("ghcr.io/a/b:1@" + DIGEST) == "ghcr.io/a/b"
