"""Staff assessment and trends, summed from `daily_figures` and its rollups (never from recordings, which may
be 10 M rows).

A period's staff assessment reads whole calendar months from the month rollup and only the days of a month
the period covers in part from `daily_figures`; when it covers most of such a month, the month row is read
and the days outside the period are taken away again, so no month costs more than half its days. A month
whose staff rows wait to be summed again after a reconciliation run is read from its days. The
whole bank's daily trend reads the per-day rollup; one branch's reads `daily_figures` by its branch index.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import ColumnElement, Select, and_, func, or_, select, union_all
from sqlalchemy.orm import Session

from center_platform.db.models import Branch
from center_platform.db.reconciliation_models import DailyFigures
from center_platform.db.report_models import BankDayFigures, StaffMonthFigures, StaleMonth

F, M, D = DailyFigures, StaffMonthFigures, BankDayFigures
DAY = timedelta(days=1)
MEASURES = (
    "sales",
    "recorded",
    "late",
    "missed",
    "not_uploaded",
    "cancelled_sales",
    "recordings",
    "unsold",
    "interrupted",
    "quality_failed",
    "cancelled_takes",
    "duration_ms",
)


@dataclass(frozen=True)
class ReportFilters:
    day_from: date
    day_to: date  # inclusive
    branch_id: int | None = None  # set from the user's role for a branch admin, never widened
    product_type_id: int | None = None


@dataclass(frozen=True)
class Figures:
    key: str  # the staff code, the branch code or the day, by report
    branch_code: str
    sales: int
    recorded: int
    late: int
    missed: int
    not_uploaded: int
    cancelled_sales: int
    recordings: int
    unsold: int
    interrupted: int
    quality_failed: int
    cancelled_takes: int
    duration_ms: int

    @property
    def coverage(self) -> float | None:
        """Share of sales with a recording."""
        return self.recorded / self.sales if self.sales else None

    @property
    def on_time(self) -> float | None:
        return (self.recorded - self.late) / self.recorded if self.recorded else None

    @property
    def takes(self) -> int:
        return self.recordings + self.cancelled_takes

    @property
    def cancellation_rate(self) -> float | None:
        return self.cancelled_takes / self.takes if self.takes else None

    @property
    def interruption_rate(self) -> float | None:
        return self.interrupted / self.recordings if self.recordings else None

    @property
    def average_duration_s(self) -> float | None:
        return self.duration_ms / self.recordings / 1000 if self.recordings else None


def _filtered(q: Select, f: ReportFilters) -> Select:
    q = q.where(F.day >= f.day_from, F.day <= f.day_to)
    if f.branch_id is not None:
        q = q.where(F.branch_id == f.branch_id)
    if f.product_type_id is not None:
        q = q.where(F.product_type_id == f.product_type_id)
    return q


def _sums() -> list:
    return [func.coalesce(func.sum(getattr(F, m)), 0) for m in MEASURES]


def _figures(key: str, branch_code: str, values: tuple[object, ...]) -> Figures:
    return Figures(key, branch_code, *(int(v) for v in values))  # type: ignore[call-overload]


@dataclass(frozen=True)
class PeriodPlan:
    """How a period is read: month rows, plus day ranges added, minus day ranges taken away (inclusive)."""

    months: tuple[date, ...]
    plus: tuple[tuple[date, date], ...]
    minus: tuple[tuple[date, date], ...]


def next_month(first: date) -> date:
    return (first + timedelta(days=32)).replace(day=1)


def period_plan(day_from: date, day_to: date, stale: Collection[date] = ()) -> PeriodPlan:
    months: list[date] = []
    plus: list[tuple[date, date]] = []
    minus: list[tuple[date, date]] = []
    first = day_from.replace(day=1)
    while first <= day_to:
        last = next_month(first) - DAY
        lo, hi = max(first, day_from), min(last, day_to)
        inside, whole = (hi - lo).days + 1, (last - first).days + 1
        if inside * 2 <= whole or first in stale:
            if plus and plus[-1][1] + DAY == lo:
                plus[-1] = (plus[-1][0], hi)
            else:
                plus.append((lo, hi))
        else:
            months.append(first)
            if lo > first:
                minus.append((first, lo - DAY))
            if hi < last:
                minus.append((hi + DAY, last))
        first = last + DAY
    return PeriodPlan(tuple(months), tuple(plus), tuple(minus))


def _days(ranges: tuple[tuple[date, date], ...]) -> ColumnElement[bool]:
    return or_(*(and_(F.day >= lo, F.day <= hi) for lo, hi in ranges))


def _staff_parts(f: ReportFilters, plan: PeriodPlan) -> list[Select]:
    parts: list[Select] = []
    for table, where, sign in (
        (M, M.month.in_(plan.months) if plan.months else None, 1),
        (F, _days(plan.plus) if plan.plus else None, 1),
        (F, _days(plan.minus) if plan.minus else None, -1),
    ):
        if where is None:
            continue
        measures = [(getattr(table, m) if sign > 0 else -getattr(table, m)).label(m) for m in MEASURES]
        q = select(table.branch_id.label("branch_id"), table.staff_code.label("staff_code"), *measures).where(where)
        if f.branch_id is not None:
            q = q.where(table.branch_id == f.branch_id)
        if f.product_type_id is not None:
            q = q.where(table.product_type_id == f.product_type_id)
        parts.append(q)
    return parts


def assessment(db: Session, f: ReportFilters) -> list[Figures]:
    """Per relationship manager and branch."""
    plan = period_plan(f.day_from, f.day_to, set(db.execute(select(StaleMonth.month)).scalars()))
    u = union_all(*_staff_parts(f, plan)).subquery()
    sums = [func.sum(u.c[m]) for m in MEASURES]
    q = (
        select(Branch.code, u.c.staff_code, *sums)
        .join(Branch, Branch.id == u.c.branch_id)
        .group_by(Branch.code, u.c.staff_code)
        .order_by(Branch.code, u.c.staff_code)
    )
    if plan.minus:
        # A manager with figures only on the days taken away sums to nothing; every daily_figures row counts
        # a sale, a recording or a cancelled take, so one with figures in the period has one of these.
        q = q.having(func.sum(u.c.sales) + func.sum(u.c.recordings) + func.sum(u.c.cancelled_takes) > 0)
    return [_figures(row[1], row[0], tuple(row[2:])) for row in db.execute(q)]


def by_branch(staff: list[Figures]) -> list[Figures]:
    """Per branch, summed from the staff assessment (each manager row is one branch's): no second scan."""
    sums: dict[str, list[int]] = {}
    for x in staff:
        acc = sums.setdefault(x.branch_code, [0] * len(MEASURES))
        for i, m in enumerate(MEASURES):
            acc[i] += getattr(x, m)
    return [Figures(code, code, *values) for code, values in sorted(sums.items())]


def trend(db: Session, f: ReportFilters) -> list[Figures]:
    """Per day of the period."""
    if f.branch_id is not None:
        q = _filtered(select(F.day, *_sums()).group_by(F.day), f).order_by(F.day)
    else:
        q = select(D.day, *(func.sum(getattr(D, m)) for m in MEASURES)).where(D.day >= f.day_from, D.day <= f.day_to)
        if f.product_type_id is not None:
            q = q.where(D.product_type_id == f.product_type_id)
        q = q.group_by(D.day).order_by(D.day)
    return [_figures(row[0].isoformat(), "", tuple(row[1:])) for row in db.execute(q)]


def figures_json(x: Figures) -> dict[str, object]:
    return {
        "key": x.key,
        "branch_code": x.branch_code,
        **{m: getattr(x, m) for m in MEASURES},
        "coverage": x.coverage,
        "on_time": x.on_time,
        "cancellation_rate": x.cancellation_rate,
        "interruption_rate": x.interruption_rate,
        "average_duration_s": x.average_duration_s,
    }
