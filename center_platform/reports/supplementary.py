"""Sales covered only by a supplementary recording, per branch and relationship manager, for the reports.

Counted from each day's reconciled sales (outcome `supplementary`, reconciliation.matching rule 2b):
a day's sales are at most a few thousand rows, read by the (day, branch) index. They are neither
"recorded" nor "recorded on time" in the daily figures, so coverage stays what was recorded at the sale.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from center_platform.db.models import Branch
from center_platform.db.reconciliation_models import ReconciledSale
from center_platform.reconciliation.matching import SUPPLEMENTARY
from center_platform.reports.figures import ReportFilters


@dataclass(frozen=True)
class SupplementaryCounts:
    total: int = 0
    by_branch: dict[str, int] = field(default_factory=dict)
    by_staff: dict[tuple[str, str], int] = field(default_factory=dict)  # (branch code, staff code)

    def to_json(self) -> dict[str, object]:
        return {
            "total": self.total,
            "by_branch": self.by_branch,
            "by_staff": [
                {"branch_code": b, "staff_code": s, "sales": n} for (b, s), n in sorted(self.by_staff.items())
            ],
        }


def supplementary_counts(db: Session, f: ReportFilters) -> SupplementaryCounts:
    rs = ReconciledSale
    q = (
        select(Branch.code, rs.staff_code, func.count())
        .join(Branch, Branch.id == rs.branch_id)
        .where(rs.day >= f.day_from, rs.day <= f.day_to, rs.outcome == SUPPLEMENTARY)
        .group_by(Branch.code, rs.staff_code)
    )
    if f.branch_id is not None:
        q = q.where(rs.branch_id == f.branch_id)
    if f.product_type_id is not None:
        q = q.where(rs.product_type_id == f.product_type_id)
    by_staff = {(b, s): int(n) for b, s, n in db.execute(q).tuples()}
    by_branch: dict[str, int] = {}
    for (b, _), n in by_staff.items():
        by_branch[b] = by_branch.get(b, 0) + n
    return SupplementaryCounts(sum(by_staff.values()), dict(sorted(by_branch.items())), by_staff)
