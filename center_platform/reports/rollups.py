"""Keeping the report rollups in step with `daily_figures`.

A reconciliation run writes a day's figures and, in the same transaction, the whole bank's rows of the day
(`refresh_day`), and lists the day's month as stale. Once the run's days are done, each stale month's staff
rows are summed again from its days (`refresh_stale_months`): once per month and run, instead of updating
thousands of month rows in every day's transaction. Until then, and if a run stops before it, the reports
read a stale month from its days, so they are never behind the figures.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import ColumnElement, delete, func, insert, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from center_platform.db.reconciliation_models import DailyFigures
from center_platform.db.report_models import BankDayFigures, StaffMonthFigures, StaleMonth
from center_platform.reports.figures import MEASURES, next_month

F, M, D = DailyFigures, StaffMonthFigures, BankDayFigures
STAFF_KEYS = ("branch_id", "staff_code", "product_type_id")


def month_of(day: date) -> date:
    return day.replace(day=1)


def _sums() -> list[ColumnElement[int]]:
    return [func.sum(getattr(F, m)).label(m) for m in MEASURES]


def _staff_keys() -> list[ColumnElement[object]]:
    return [getattr(F, k) for k in STAFF_KEYS]


def refresh_day(db: Session, day: date) -> None:
    """The day's whole-bank rows from its figures, just written; its month's staff rows marked stale."""
    db.execute(delete(D).where(D.day == day))
    db.execute(
        insert(D).from_select(
            ["day", "product_type_id", *MEASURES],
            select(literal(day), F.product_type_id, *_sums()).where(F.day == day).group_by(F.product_type_id),
        )
    )
    dialect = db.get_bind().dialect.name
    mark = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(StaleMonth).values(month=month_of(day))
    db.execute(mark.on_conflict_do_nothing(index_elements=["month"]))


def stale_months(db: Session) -> set[date]:
    return set(db.execute(select(StaleMonth.month)).scalars())


def refresh_month(db: Session, month: date) -> None:
    """The month's staff rows summed again from its days; the month no longer stale."""
    db.execute(delete(M).where(M.month == month))
    keys = _staff_keys()
    db.execute(
        insert(M).from_select(
            ["month", *STAFF_KEYS, *MEASURES],
            select(literal(month), *keys, *_sums()).where(F.day >= month, F.day < next_month(month)).group_by(*keys),
        )
    )
    db.execute(delete(StaleMonth).where(StaleMonth.month == month))


def refresh_stale_months(sessions: sessionmaker[Session]) -> list[date]:
    """Each stale month in a transaction of its own; what a run calls once its days are reconciled."""
    with sessions() as db:
        months = sorted(stale_months(db))
    for month in months:
        with sessions() as db:
            refresh_month(db, month)
            db.commit()
    return months


def rebuild(db: Session) -> None:
    """Fills the rollups again from every day's figures, as migration 0011 did: for figures written by other
    means than a reconciliation run (a restore, a load of earlier months)."""
    db.execute(delete(D))
    db.execute(delete(M))
    db.execute(delete(StaleMonth))
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
