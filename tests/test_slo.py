"""Burn-rate window and factor arithmetic (compiler/slo.py)."""

from __future__ import annotations

import pytest

from compiler import slo as s


def test_thirty_days_is_the_sre_workbook_table() -> None:
    got = [(b.severity, b.short, b.long, b.factor, b.hold) for b in s.burn_windows(30 * s.DAY)]
    assert got == [
        ("page", 5 * 60, 3600, 14.4, 120),
        ("page", 30 * 60, 6 * 3600, 6.0, 12 * 60),
        ("ticket", 2 * 3600, s.DAY, 3.0, 48 * 60),
        ("ticket", 6 * 3600, 3 * s.DAY, 1.0, 144 * 60),
    ]


@pytest.mark.parametrize("days", [7, 28, 30, 90])
def test_scaled_windows_spend_the_same_share_of_budget(days: int) -> None:
    window = days * s.DAY
    for bw in s.burn_windows(window):
        # share of the whole budget spent when the alert fires = factor x long / window
        assert bw.factor * bw.long / window == pytest.approx(float(bw.share), rel=1e-6)
        assert bw.short >= s.MIN_SHORT and bw.long > bw.short
        assert bw.long % 60 == 0 and bw.short % 60 == 0


def test_seven_and_ninety_days() -> None:
    seven = s.burn_windows(7 * s.DAY)
    assert (seven[0].short, seven[0].long) == (120, 14 * 60)  # 5m floors at 2m
    assert seven[0].factor == 14.4
    ninety = s.burn_windows(90 * s.DAY)
    assert [(s.format_duration(b.short), s.format_duration(b.long)) for b in ninety] == [
        ("15m", "3h"),
        ("1h30m", "18h"),
        ("6h", "3d"),
        ("18h", "9d"),
    ]


def test_durations() -> None:
    assert s.format_duration(4032 * 60) == "2d19h12m"
    assert s.format_duration(90) == "1m30s"
    assert s.format_number(0.001) == "0.001"
    assert s.format_number(14.4) == "14.4"


def test_names() -> None:
    assert s.camel("fraud-availability") == "FraudAvailability"
    assert s.error_ratio_record(3600) == "slo:sli_error:ratio_rate1h"
    assert s.requests_record(300) == "slo:sli_requests:rate5m"


def test_burn_windows_are_computed_once_per_window_length() -> None:
    s.burn_windows.cache_clear()
    for _ in range(3):
        s.burn_windows(30 * s.DAY)
        s.burn_windows(7 * s.DAY)
    info = s.burn_windows.cache_info()
    assert (info.misses, info.hits) == (2, 4)
