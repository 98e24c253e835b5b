"""Staff assessment and trends, summed from `daily_figures` (never from recordings, which may be 10 M rows)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from center_platform.db.models import Branch
from center_platform.db.reconciliation_models import DailyFigures

F = DailyFigures
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


def assessment(db: Session, f: ReportFilters) -> list[Figures]:
    """Per relationship manager and branch."""
    q = _filtered(
        select(Branch.code, F.staff_code, *_sums())
        .join(Branch, Branch.id == F.branch_id)
        .group_by(Branch.code, F.staff_code),
        f,
    ).order_by(Branch.code, F.staff_code)
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
    q = _filtered(select(F.day, *_sums()).group_by(F.day), f).order_by(F.day)
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
