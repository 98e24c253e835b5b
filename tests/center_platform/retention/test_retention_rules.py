"""Retain-until by rule, to the end of the last day in the branch's time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from center_platform.retention.rules import (
    FIXED_TERM,
    OPEN_ENDED,
    RetentionError,
    RetentionFacts,
    RetentionRule,
    decide,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(
    ("rule", "facts", "last_day"),
    [
        (FIXED_TERM, RetentionFacts(date(2026, 1, 5), maturity_date=date(2026, 7, 5)), date(2028, 7, 5)),
        # open-ended, never redeemed: purchase + 5 years
        (OPEN_ENDED, RetentionFacts(date(2026, 1, 5)), date(2031, 1, 5)),
        # redeemed early: purchase + 5 still later than redemption + 2
        (OPEN_ENDED, RetentionFacts(date(2026, 1, 5), redemption_date=date(2027, 1, 5)), date(2031, 1, 5)),
        # redeemed late: redemption + 2 wins
        (OPEN_ENDED, RetentionFacts(date(2026, 1, 5), redemption_date=date(2030, 6, 1)), date(2032, 6, 1)),
        # 29 February has no anniversary: move to 1 March, never 28 February
        (FIXED_TERM, RetentionFacts(date(2024, 1, 1), maturity_date=date(2024, 2, 29)), date(2026, 3, 1)),
        # a closed dispute extends past the rule
        (
            FIXED_TERM,
            RetentionFacts(date(2026, 1, 5), maturity_date=date(2026, 7, 5), dispute_closed_date=date(2029, 1, 1)),
            date(2031, 1, 1),
        ),
    ],
)
def test_retention_cases(rule: str, facts: RetentionFacts, last_day: date) -> None:
    decision = decide(RetentionRule(kind=rule), facts, SHANGHAI)
    assert decision.last_day == last_day
    # kept through the whole last day in Shanghai: until local midnight after it, i.e. 16:00 UTC that day
    assert decision.retain_until == datetime(last_day.year, last_day.month, last_day.day, 16, 0, tzinfo=UTC)


def test_fixed_term_without_maturity_is_an_error() -> None:
    with pytest.raises(RetentionError, match="maturity"):
        decide(RetentionRule(kind=FIXED_TERM), RetentionFacts(date(2026, 1, 5)), SHANGHAI)
