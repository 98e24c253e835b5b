"""Retain-until from a product type's rule. Pure functions: the rule is data, the dates are facts.

Retention runs to the END of the last day, in the branch's time zone: "kept two years after
maturity" must not lose the final day to a UTC offset. A date that does not exist in the target
year (29 February) moves to 1 March, never to 28 February.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

FIXED_TERM = "fixed_term"
OPEN_ENDED = "open_ended"
RULES = (FIXED_TERM, OPEN_ENDED)


# Every year count of a rule. None may be below the regulatory minimum (`[retention] minimum_years`).
YEAR_FIELDS = ("years_after_maturity", "years_after_purchase", "years_after_redemption", "years_after_dispute")
YEAR_LABELS = {
    "years_after_maturity": "到期后保存年数",
    "years_after_purchase": "购买后保存年数",
    "years_after_redemption": "赎回后保存年数",
    "years_after_dispute": "争议结束后保存年数",
}


class RetentionError(ValueError):
    pass


def below_minimum(years: Mapping[str, int], minimum: int) -> list[str]:
    """The year counts of a rule that are lower than the regulatory minimum, in YEAR_FIELDS order."""
    return [f for f in YEAR_FIELDS if years[f] < minimum]


def minimum_message(field: str, value: int, minimum: int) -> str:
    """What an admin is told, Chinese first: which count, what it is, and the floor."""
    return (
        f"{YEAR_LABELS[field]}为 {value} 年,低于监管最低保存年限 {minimum} 年 / "
        f"{field} is {value} years, below the regulatory minimum of {minimum} years"
    )


@dataclass(frozen=True)
class RetentionRule:
    kind: str
    years_after_maturity: int = 2
    years_after_purchase: int = 5
    years_after_redemption: int = 2
    years_after_dispute: int = 2


@dataclass(frozen=True)
class RetentionFacts:
    purchase_date: date
    maturity_date: date | None = None
    redemption_date: date | None = None
    dispute_closed_date: date | None = None


@dataclass(frozen=True)
class RetentionDecision:
    retain_until: datetime  # UTC
    last_day: date  # in the branch's time zone
    reason: str


def add_years(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February in a non-leap year
        return date(d.year + years, 3, 1)


def end_of_day_utc(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)


def last_day_kept(retain_until: datetime, tz: tzinfo) -> date:
    """The last calendar day a clip is kept: retain-until is the first instant after it."""
    return (retain_until - timedelta(microseconds=1)).astimezone(tz).date()


def decide(rule: RetentionRule, facts: RetentionFacts, tz: ZoneInfo) -> RetentionDecision:
    candidates: list[tuple[date, str]] = []
    if rule.kind == FIXED_TERM:
        if facts.maturity_date is None:
            raise RetentionError("fixed-term product has no maturity date")
        candidates.append(
            (
                add_years(facts.maturity_date, rule.years_after_maturity),
                f"maturity {facts.maturity_date} + {rule.years_after_maturity}y",
            )
        )
    elif rule.kind == OPEN_ENDED:
        candidates.append(
            (
                add_years(facts.purchase_date, rule.years_after_purchase),
                f"purchase {facts.purchase_date} + {rule.years_after_purchase}y",
            )
        )
        if facts.redemption_date is not None:
            candidates.append(
                (
                    add_years(facts.redemption_date, rule.years_after_redemption),
                    f"redemption {facts.redemption_date} + {rule.years_after_redemption}y",
                )
            )
    else:
        raise RetentionError(f"unknown retention rule {rule.kind!r}")
    if facts.dispute_closed_date is not None:
        candidates.append(
            (
                add_years(facts.dispute_closed_date, rule.years_after_dispute),
                f"dispute closed {facts.dispute_closed_date} + {rule.years_after_dispute}y",
            )
        )
    last_day, reason = max(candidates)
    return RetentionDecision(retain_until=end_of_day_utc(last_day, tz), last_day=last_day, reason=reason)


def maturity_for(purchase_date: date, maturity_date: date | None, term_days: int | None) -> date | None:
    """A product's fixed maturity date wins; otherwise the term runs from the purchase."""
    if maturity_date is not None:
        return maturity_date
    if term_days is not None:
        return purchase_date + timedelta(days=term_days)
    return None
