"""The words of governance: rule packs, rule severities, result statuses and waiver states.

Kept apart from compiler.governance so that the command line can name them (`mlopsc rules
--pack`) without loading the rules, the spec models and CEL.
"""

from __future__ import annotations

from enum import StrEnum


class Pack(StrEnum):
    """A built-in rule pack (`governance.frameworks`)."""

    BASELINE = "baseline"
    EU_AI_ACT = "eu-ai-act"
    GDPR = "gdpr"


class RuleSeverity(StrEnum):
    """What a violated rule is: an error fails validation, a warning does not."""

    ERROR = "error"
    WARNING = "warning"


class Status(StrEnum):
    """The final status of a rule result once waivers are applied."""

    PASS = "pass"
    FAIL = "fail"
    WAIVED = "waived"
    WARNING = "warning"


class WaiverState(StrEnum):
    """Where a waiver stands on a given day."""

    ACTIVE = "active"
    EXPIRING_SOON = "expiring-soon"
    EXPIRED = "expired"
    UNUSED = "unused"
