"""Keeping the report rollups in step with `daily_figures`.

A reconciliation run replaces a day's figures; in the same transaction the day's old figures are taken out
of their month's staff rows (`withdraw_day`, before they are deleted) and the new ones added (`add_day`,
once written), so the month rows stay the exact sum of their days however often a day is run again.
The whole bank's per-day rows are simply written again for the day.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import ColumnElement, delete, func, insert, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from center_platform.db.reconciliation_models import DailyFigures
from center_platform.db.report_models import BankDayFigures, StaffMonthFigures
from center_platform.reports.figures import MEASURES

F, M, D = DailyFigures, StaffMonthFigures, BankDayFigures
STAFF_KEYS = ("branch_id", "staff_code", "product_type_id")


def month_of(day: date) -> date:
    return day.replace(day=1)


def _sums() -> list[ColumnElement[int]]:
    return [func.sum(getattr(F, m)).label(m) for m in MEASURES]


def _staff_keys() -> list[ColumnElement[object]]:
    return [getattr(F, k) for k in STAFF_KEYS]


def withdraw_day(db: Session, day: date) -> None:
    """Takes the day's figures as they stand out of the rollups; call before they are deleted."""
    keys = _staff_keys()
    old = select(*keys, *_sums()).where(F.day == day).group_by(*keys).subquery()
    db.execute(
        update(M)
        .where(M.month == month_of(day), *(getattr(M, k) == old.c[k] for k in STAFF_KEYS))
        .values({m: getattr(M, m) - old.c[m] for m in MEASURES})
    )
    db.execute(delete(D).where(D.day == day))


def add_day(db: Session, day: date) -> None:
    """Adds the day's figures, just written, to the rollups."""
    db.execute(
        insert(D).from_select(
            ["day", "product_type_id", *MEASURES],
            select(literal(day), F.product_type_id, *_sums()).where(F.day == day).group_by(F.product_type_id),
        )
    )
    keys = _staff_keys()
    month = month_of(day)
    dialect = db.get_bind().dialect.name
    upsert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(M).from_select(
        ["month", *STAFF_KEYS, *MEASURES],
        select(literal(month), *keys, *_sums()).where(F.day == day).group_by(*keys),
    )
    db.execute(
        upsert.on_conflict_do_update(
            index_elements=["month", *STAFF_KEYS],
            set_={m: getattr(M, m) + upsert.excluded[m] for m in MEASURES},
        )
    )
    # A manager (or a product type) the day's run no longer finds may leave a month row of zeros behind. Every
    # row of daily_figures counts a sale, a recording or a cancelled take, so a month row with none of them
    # sums no day at all and would show a manager who did nothing in the month.
    db.execute(delete(M).where(M.month == month, M.sales == 0, M.recordings == 0, M.cancelled_takes == 0))


def rebuild(db: Session) -> None:
    """Fills the rollups again from every day's figures, as migration 0011 did: for figures written by other
    means than a reconciliation run (a restore, a load of earlier months)."""
    db.execute(delete(D))
    db.execute(delete(M))
    db.execute(
        insert(D).from_select(
            ["day", "product_type_id", *MEASURES],
            select(F.day, F.product_type_id, *_sums()).group_by(F.day, F.product_type_id),
        )
    )
    if db.get_bind().dialect.name == "postgresql":
        month: ColumnElement[date] = func.date_trunc("month", F.day).cast(M.month.type)
    else:
        month = func.date(F.day, "start of month")
    keys = _staff_keys()
    db.execute(
        insert(M).from_select(
            ["month", *STAFF_KEYS, *MEASURES],
            select(month.label("month"), *keys, *_sums()).group_by(month, *keys),
        )
    )
