"""SLO arithmetic: burn-rate windows and factors scaled to the SLO window, and the names of
recording rules and alerts. Pure functions of numbers and of `SloPlan`, shared by every target that shows
SLOs (rules, tests, dashboards, documents) so that they agree by construction.

The multi-window multi-burn-rate alerts follow the Google SRE workbook ("Alerting on SLOs",
table 5-8) for a 30-day window: page on 2% of the budget spent in 1h or 5% in 6h, ticket on
10% in 1d or 10% in 3d, each confirmed by a short window of 1/12 of the long one. For another
SLO window W every window is scaled by W/30d (rounded to the minute) and the factor is
recomputed as share x W / long window, so each alert still fires on the same share of budget.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING

from compiler import conventions_metrics as m

if TYPE_CHECKING:
    from compiler.plan import SloPlan

MINUTE = 60
HOUR = 3600
DAY = 86400
BASE_WINDOW = 30 * DAY
MIN_SHORT = 2 * MINUTE  # a rate() needs a few scrapes: never confirm over less than 2m
MIN_FOR = MINUTE
FLOAT_SLACK = "0.999999"
# A ratio SLI with no request series at all for this long raises its no-data alert: longer
# than a rollout or a Prometheus restart leaves a gap, short enough to beat the first page.
NO_DATA_FOR = 15 * MINUTE
# Drift and freshness gauges come from a job's push and from kube-state-metrics: allow an hour.
NO_DATA_FOR_GAUGE = HOUR
# (severity, long window at 30d, share of the budget spent when it fires)
_PAIRS: tuple[tuple[str, int, Fraction], ...] = (
    ("page", HOUR, Fraction(2, 100)),
    ("page", 6 * HOUR, Fraction(5, 100)),
    ("ticket", DAY, Fraction(10, 100)),
    ("ticket", 3 * DAY, Fraction(10, 100)),
)


@dataclass(frozen=True)
class BurnWindow:
    """One window pair of a multi-window burn-rate alert."""

    severity: str  # page | ticket
    short: int  # seconds
    long: int  # seconds
    factor: float  # burn rate that spends `share` of the budget within `long`
    share: Fraction  # share of the whole window's budget
    hold: int  # the alert's `for:`, seconds

    @property
    def label(self) -> str:
        """The pair as it appears in names, e.g. 5m1h."""
        return format_duration(self.short) + format_duration(self.long)


@functools.cache
def format_duration(seconds: int) -> str:
    """A Prometheus duration with the largest units first: 90 → 1m30s, 4032m → 2d19h12m."""
    if seconds <= 0:
        return "0s"
    parts: list[str] = []
    rest = seconds
    for unit, size in (("d", DAY), ("h", HOUR), ("m", MINUTE), ("s", 1)):
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(parts)


@functools.lru_cache(maxsize=4096)
def format_number(value: float | Fraction | Decimal) -> str:
    """A short, exact-looking decimal for PromQL and annotations (14.4, 0.001, 1e-05)."""
    return f"{float(value):.10g}"


def _round_minute(seconds: Fraction, minimum: int) -> int:
    return max(minimum, round(seconds / MINUTE) * MINUTE)


@functools.cache
def burn_windows(window: int) -> tuple[BurnWindow, ...]:
    """The four window pairs for an SLO window of `window` seconds, scaled from 30d."""
    scale = Fraction(window, BASE_WINDOW)
    pairs: list[BurnWindow] = []
    for severity, long_base, share in _PAIRS:
        long = _round_minute(long_base * scale, MIN_SHORT)
        short = _round_minute(Fraction(long, 12), MIN_SHORT)
        hold = _round_minute(Fraction(short * 2, 5), MIN_FOR)
        factor = share * window / long
        pairs.append(BurnWindow(severity, short, long, float(round(factor, 6)), share, hold))
    return tuple(pairs)


def enabled_windows(sp: SloPlan) -> tuple[BurnWindow, ...]:
    """The window pairs whose severity is enabled in the SLO's alerting."""
    on = {"page": sp.slo.alerting.page.enabled, "ticket": sp.slo.alerting.ticket.enabled}
    return tuple(bw for bw in sp.windows if on[bw.severity])


def rule_windows(sp: SloPlan) -> tuple[int, ...]:
    """Every window the recording rules cover (all pairs, so dashboards see them all)."""
    found: set[int] = set()
    for bw in sp.windows:
        found.update((bw.short, bw.long))
    return tuple(sorted(found))


def error_budget(sp: SloPlan) -> Decimal:
    """The allowed error ratio: 1 - objective/100, exact in decimal (99.9 → 0.001)."""
    return budget_of(sp.slo.objective)


@functools.lru_cache(maxsize=1024)
def budget_of(objective: float) -> Decimal:
    """The error budget of an objective in percent (99.9 → 0.001)."""
    return Decimal(1) - Decimal(str(objective)) / Decimal(100)


def objective_ratio(sp: SloPlan) -> Decimal:
    return Decimal(str(sp.slo.objective)) / Decimal(100)


def alert_threshold(sp: SloPlan, bw: BurnWindow) -> tuple[str, str]:
    """(operator, PromQL threshold) on the error ratio: factor x budget as an exact decimal,
    inclusive so that a burn of exactly the factor fires; capped at 1 when an objective is
    too low for the factor (under ~93% for 14.4x)."""
    return ">=", _threshold(bw.factor, sp.slo.objective)


@functools.lru_cache(maxsize=1024)
def _threshold(factor: float, objective: float) -> str:
    value = min(Decimal(1), Decimal(str(factor)) * budget_of(objective))
    # A ratio computed from counters carries float noise: a burn of exactly the factor
    # (e.g. 0.864/60 = 0.0144) must not miss by one ulp, hence the 1e-6 relative slack.
    return f"({format_number(value)} * {FLOAT_SLACK})"


def threshold_value(sp: SloPlan, bw: BurnWindow) -> float:
    """The alert threshold on the error ratio as a float (what promtool tests compare with)."""
    return float(min(Decimal(1), Decimal(str(bw.factor)) * error_budget(sp)))


def camel(name: str) -> str:
    """fraud-availability → FraudAvailability."""
    return "".join(part[:1].upper() + part[1:] for part in name.split("-"))


def alert_name(sp: SloPlan, severity: str) -> str:
    """One name per SLO and severity (FraudAvailabilityBurnRatePage): both window pairs of a
    severity share it, told apart by the burn_window label, so that Alertmanager groups one
    incident into one notification."""
    return f"{camel(sp.slo.name)}BurnRate{severity.capitalize()}"


def no_data_name(sp: SloPlan) -> str:
    """FraudAvailabilityNoData: the SLI's series are missing."""
    return f"{camel(sp.slo.name)}NoData"


def error_ratio_record(window: int) -> str:
    return m.error_ratio_record(format_duration(window))


def requests_record(window: int) -> str:
    return m.requests_record(format_duration(window))


def uses_requests(sp: SloPlan) -> bool:
    """Ratio SLIs count requests or events; drift and freshness are judged per evaluation."""
    return sp.slo.sli.kind in ("availability", "latency", "events")
