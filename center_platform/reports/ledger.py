"""The recording ledger (理财录像流水) of a period: one line per recording with its reconciliation
outcome, for CSV, XLSX and a printable PDF. A branch admin's ledger is the own branch's."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo

from openpyxl import Workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from center_platform.db.models import Branch, Product, Recording
from center_platform.db.reconciliation_models import ReconciledSale
from center_platform.reports.figures import ReportFilters

LEDGER_MAX = 50_000  # a branch's year, or the whole bank's busiest day; more is a job for the database
HEADERS = (
    "办理时间 Time",
    "业务单号 Serial",
    "网点 Branch",
    "柜台 Counter",
    "客户经理 Manager",
    "产品 Product",
    "时长(秒) Seconds",
    "状态 State",
    "核对 Reconciled",
)


@dataclass(frozen=True)
class LedgerLine:
    started_at: datetime
    business_serial: str
    branch_code: str
    counter_code: str
    staff_code: str
    product: str
    duration_s: float
    clip_state: str
    outcome: str

    def cells(self, tz: tzinfo) -> list[str]:
        return [
            self.started_at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S"),
            self.business_serial,
            self.branch_code,
            self.counter_code,
            self.staff_code,
            self.product,
            f"{self.duration_s:.0f}",
            self.clip_state,
            self.outcome,
        ]


def ledger_lines(db: Session, f: ReportFilters, tz: tzinfo, limit: int = LEDGER_MAX) -> list[LedgerLine]:
    start = datetime.combine(f.day_from, time(), tz).astimezone(UTC)
    end = datetime.combine(f.day_to + timedelta(days=1), time(), tz).astimezone(UTC)
    q = (
        select(Recording, Branch.code, Product.name, ReconciledSale.outcome)
        .join(Branch, Branch.id == Recording.branch_id)
        .join(Product, Product.id == Recording.product_id)
        .outerjoin(ReconciledSale, ReconciledSale.recording_id == Recording.id)
        .where(Recording.started_at >= start, Recording.started_at < end)
        .order_by(Recording.started_at, Recording.id)
        .limit(limit)
    )
    if f.branch_id is not None:
        q = q.where(Recording.branch_id == f.branch_id)
    if f.product_type_id is not None:
        q = q.where(Recording.product_type_id == f.product_type_id)
    return [
        LedgerLine(
            r.started_at,
            r.business_serial,
            code,
            r.counter_code,
            r.staff_code,
            name,
            r.duration_ms / 1000,
            r.clip_state,
            outcome or "unsold",
        )
        for r, code, name, outcome in db.execute(q).tuples()
    ]


def _safe(cell: str) -> str:
    # A cell a spreadsheet would read as a formula is quoted, as the search export does.
    return "'" + cell if cell[:1] in ("=", "+", "-", "@") else cell


def ledger_csv(lines: list[LedgerLine], tz: tzinfo) -> Iterator[str]:
    buf = io.StringIO()
    w = csv.writer(buf)
    buf.write("\ufeff")  # Excel opens UTF-8 with BOM as Chinese
    w.writerow(HEADERS)
    for line in lines:
        w.writerow([_safe(c) for c in line.cells(tz)])
        if buf.tell() > 64 * 1024:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()


def ledger_xlsx(lines: list[LedgerLine], tz: tzinfo) -> bytes:
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("理财录像流水")
    ws.append(list(HEADERS))
    for line in lines:
        ws.append([_safe(c) for c in line.cells(tz)])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
