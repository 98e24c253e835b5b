"""Report rollups: `daily_figures` summed to the grains the report pages read, so that a page over a month
or a year of a large bank reads thousands of rows, not millions.

Written only from `daily_figures` (see `center_platform.reports.rollups`); migration 0011 filled them once
from the figures there were.
Kept apart from `models.py` (same metadata, imported at its end) so that neither module grows past the size
the tree allows.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import BigInteger, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from center_platform.db.models import Base

_BIG_ID = BigInteger().with_variant(Integer, "sqlite")


class _Measures:
    """The measures of `daily_figures`, summed."""

    sales: Mapped[int] = mapped_column(Integer, default=0)
    recorded: Mapped[int] = mapped_column(Integer, default=0)
    late: Mapped[int] = mapped_column(Integer, default=0)
    missed: Mapped[int] = mapped_column(Integer, default=0)
    not_uploaded: Mapped[int] = mapped_column(Integer, default=0)
    cancelled_sales: Mapped[int] = mapped_column(Integer, default=0)
    recordings: Mapped[int] = mapped_column(Integer, default=0)
    unsold: Mapped[int] = mapped_column(Integer, default=0)
    interrupted: Mapped[int] = mapped_column(Integer, default=0)
    quality_failed: Mapped[int] = mapped_column(Integer, default=0)
    cancelled_takes: Mapped[int] = mapped_column(Integer, default=0)
    duration_ms: Mapped[int] = mapped_column(BigInteger, default=0)


class BankDayFigures(_Measures, Base):
    """Per day × product type, all branches together: the daily trend of the whole bank or of a product type.
    (A branch's trend reads `daily_figures` through its branch index: a branch's year is a few thousand rows.)"""

    __tablename__ = "report_days"
    __table_args__ = (UniqueConstraint("day", "product_type_id"),)

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    product_type_id: Mapped[int] = mapped_column(Integer)


class StaffMonthFigures(_Measures, Base):
    """Per calendar month × branch × relationship manager × product type: the staff assessment of whole
    months. `month` is the month's first day. Summed again from the month's days after a reconciliation run,
    not in each day's transaction: until then the month is listed in `report_stale_months` and read by day."""

    __tablename__ = "report_staff_months"
    # The unique key leads with the month, then the branch: it serves a branch's months too.
    __table_args__ = (UniqueConstraint("month", "branch_id", "staff_code", "product_type_id"),)

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True)
    month: Mapped[date] = mapped_column(Date)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"))
    staff_code: Mapped[str] = mapped_column(String(7))
    product_type_id: Mapped[int] = mapped_column(Integer)


class StaleMonth(Base):
    """A month whose days were reconciled after its staff rows were summed: the same transaction as the day's
    figures lists it, the summing clears it, and the reports read a listed month from its days."""

    __tablename__ = "report_stale_months"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    month: Mapped[date] = mapped_column(Date, unique=True)
