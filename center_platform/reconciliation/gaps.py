"""Gaps: what a reconciliation run found that a compliance officer must answer for, and their workflow.

A gap is keyed by (day, kind, subject). A run marks every gap of its day not current, then inserts the
gaps it finds that are new and marks those it finds again current, so a worked status and note survive
any number of re-runs. A gap no longer found (the clip arrived, the sale was matched) stays, not current.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import BigInteger, ColumnElement, and_, cast, exists, func, insert, literal, null, select, update
from sqlalchemy.orm import Session

from center_platform.audit import trail as audit
from center_platform.db.models import Branch, Recording
from center_platform.db.reconciliation_models import LedgerSale, ReconciledSale, ReconciliationGap
from storage.database import utcnow

# Sale-side kinds (from the sale's outcome) and recording-side kinds (from the recording itself).
MISSED = "missed"  # 应录未录: sold, no recording, nothing in the branch's backlog
NOT_UPLOADED = "not_uploaded"  # sold, the clip is still in the branch's upload backlog
CANCELLED = "cancelled"  # sold, but its only take was cancelled at the counter
LATE = "late"  # recorded, but started later than the allowed window after the sale
UNSOLD = "unsold"  # recorded, no sale in the ledger
INTERRUPTED = "interrupted"  # the take was cut off (crash, power)
QUALITY_FAILED = "quality_failed"  # the quality check's verdict is "fail"
SALE_GAP_KINDS = (MISSED, NOT_UPLOADED, CANCELLED, LATE)
RECORDING_GAP_KINDS = (UNSOLD, INTERRUPTED, QUALITY_FAILED)
GAP_KINDS = SALE_GAP_KINDS + RECORDING_GAP_KINDS
KIND_LABELS = {
    MISSED: "应录未录 Sold, not recorded",
    NOT_UPLOADED: "未上传 Not yet uploaded",
    CANCELLED: "录像已取消 Take cancelled",
    LATE: "补录/迟录 Recorded late",
    UNSOLD: "有录像无销售 Recorded, not sold",
    INTERRUPTED: "录像中断 Interrupted",
    QUALITY_FAILED: "质检不合格 Failed quality check",
}

OPEN = "open"
EXPLAINED = "explained"
SUPPLEMENT_REQUESTED = "supplement_requested"
CLOSED = "closed"
STATUSES = (OPEN, EXPLAINED, SUPPLEMENT_REQUESTED, CLOSED)
STATUS_LABELS = {
    OPEN: "待处理 Open",
    EXPLAINED: "已说明 Explained",
    SUPPLEMENT_REQUESTED: "已要求补录 Supplementary recording requested",
    CLOSED: "已关闭 Closed",
}
MAX_NOTE = 2000


class GapError(ValueError):
    pass


@dataclass(frozen=True)
class GapRow:
    id: int
    day: date
    kind: str
    subject: str
    branch_code: str
    counter_code: str
    staff_code: str
    business_serial: str
    clip_id: str | None
    status: str
    note: str
    current: bool
    updated_by: str
    updated_at: datetime | None


@dataclass(frozen=True)
class GapFilters:
    day_from: date | None = None
    day_to: date | None = None  # inclusive
    branch_id: int | None = None
    staff_code: str | None = None
    kind: str | None = None
    status: str | None = None
    current_only: bool = True


def refresh_gaps(db: Session, day: date, recordings_of_day: ColumnElement[bool], now: datetime) -> None:
    """Re-derives the day's gaps from its reconciled sales and recordings, keeping every worked status."""
    g = ReconciliationGap
    db.execute(update(g).where(g.day == day).values(current=False))
    # Sale side: one candidate per reconciled sale whose outcome is a gap kind.
    sale_side = (
        select(
            ReconciledSale.outcome.label("kind"),
            (literal("sale:") + LedgerSale.business_serial).label("subject"),
            ReconciledSale.branch_id,
            ReconciledSale.counter_code,
            ReconciledSale.staff_code,
            LedgerSale.business_serial,
            ReconciledSale.sale_id,
            ReconciledSale.recording_id,
        )
        .join(LedgerSale, LedgerSale.id == ReconciledSale.sale_id)
        .where(ReconciledSale.day == day, ReconciledSale.outcome.in_(SALE_GAP_KINDS))
    )
    _merge(db, day, sale_side, now, by_sale=True)
    matched = exists().where(ReconciledSale.recording_id == Recording.id)
    for kind, condition in (
        (UNSOLD, ~matched),
        (INTERRUPTED, Recording.clip_state == "interrupted"),
        (QUALITY_FAILED, Recording.quality_verdict == "fail"),
    ):
        rec_side = select(
            literal(kind).label("kind"),
            (literal("clip:") + Recording.clip_id).label("subject"),
            Recording.branch_id,
            Recording.counter_code,
            Recording.staff_code,
            Recording.business_serial,
            cast(null(), BigInteger).label("sale_id"),
            Recording.id.label("recording_id"),
        ).where(recordings_of_day, condition)
        _merge(db, day, rec_side, now, by_sale=False)


def _merge(db: Session, day: date, candidates: object, now: datetime, *, by_sale: bool) -> None:
    g = ReconciliationGap
    c = candidates.subquery()  # type: ignore[attr-defined]
    key = (c.c.sale_id == g.sale_id) if by_sale else (c.c.recording_id == g.recording_id)
    db.execute(
        update(g)
        .where(g.day == day, exists().where(c.c.kind == g.kind, key))
        .values(current=True)
        .execution_options(synchronize_session=False)
    )
    already = exists().where(g.day == day, g.kind == c.c.kind, g.subject == c.c.subject)
    db.execute(
        insert(g).from_select(
            [
                "day",
                "kind",
                "subject",
                "branch_id",
                "counter_code",
                "staff_code",
                "business_serial",
                "sale_id",
                "recording_id",
                "status",
                "note",
                "current",
                "found_at",
                "updated_by",
            ],
            select(
                literal(day),
                c.c.kind,
                c.c.subject,
                c.c.branch_id,
                c.c.counter_code,
                c.c.staff_code,
                c.c.business_serial,
                c.c.sale_id,
                c.c.recording_id,
                literal(OPEN),
                literal(""),
                literal(True),
                literal(now, type_=g.found_at.type),
                literal(""),
            ).where(~already),
        )
    )


def work_gap(db: Session, gap_id: int, status: str, note: str, actor: str, branch_id: int | None = None) -> GapRow:
    """One step of the workflow, with an audit line; `branch_id` limits it to one branch's gaps."""
    if status not in STATUSES:
        raise GapError(f"status must be one of {', '.join(STATUSES)} / 状态无效")
    note = note.strip()
    if len(note) > MAX_NOTE:
        raise GapError(f"note longer than {MAX_NOTE} characters / 说明过长")
    if status in (EXPLAINED, CLOSED) and not note:
        raise GapError("an explanation or closing note is required / 说明或关闭意见不能为空")
    gap = db.get(ReconciliationGap, gap_id)
    if gap is None or (branch_id is not None and gap.branch_id != branch_id):
        raise LookupError(gap_id)
    before = {"status": gap.status, "note": gap.note}
    gap.status = status
    gap.note = note
    gap.updated_by = actor
    gap.updated_at = utcnow()
    audit.append(
        db,
        actor,
        "reconciliation.gap_worked",
        gap.subject,
        {
            "gap_id": gap.id,
            "day": gap.day.isoformat(),
            "kind": gap.kind,
            "before": before,
            "status": status,
            "note": note,
        },
    )
    db.commit()
    return _rows(db, select(ReconciliationGap).where(ReconciliationGap.id == gap_id))[0]


def _filtered(f: GapFilters):  # type: ignore[no-untyped-def]
    g = ReconciliationGap
    q = select(g)
    conds = []
    if f.day_from:
        conds.append(g.day >= f.day_from)
    if f.day_to:
        conds.append(g.day <= f.day_to)
    if f.branch_id is not None:
        conds.append(g.branch_id == f.branch_id)
    if f.staff_code:
        conds.append(g.staff_code == f.staff_code)
    if f.kind:
        conds.append(g.kind == f.kind)
    if f.status:
        conds.append(g.status == f.status)
    if f.current_only:
        conds.append(g.current.is_(True))
    return q.where(and_(*conds)) if conds else q


def list_gaps(db: Session, f: GapFilters, offset: int = 0, limit: int = 50) -> tuple[list[GapRow], int]:
    g = ReconciliationGap
    q = _filtered(f)
    total = db.execute(select(func.count()).select_from(q.subquery())).scalar_one()
    rows = _rows(db, q.order_by(g.day.desc(), g.branch_id, g.id).offset(offset).limit(limit))
    return rows, int(total)


def _rows(db: Session, q) -> list[GapRow]:  # type: ignore[no-untyped-def]
    gaps = list(db.execute(q).scalars())
    branch_codes = dict(db.execute(select(Branch.id, Branch.code)).tuples().all())
    rec_ids = [x.recording_id for x in gaps if x.recording_id is not None]
    clips = (
        dict(db.execute(select(Recording.id, Recording.clip_id).where(Recording.id.in_(rec_ids))).tuples().all())
        if rec_ids
        else {}
    )
    return [
        GapRow(
            id=x.id,
            day=x.day,
            kind=x.kind,
            subject=x.subject,
            branch_code=branch_codes.get(x.branch_id, ""),
            counter_code=x.counter_code,
            staff_code=x.staff_code,
            business_serial=x.business_serial,
            clip_id=clips.get(x.recording_id) if x.recording_id is not None else None,
            status=x.status,
            note=x.note,
            current=x.current,
            updated_by=x.updated_by,
            updated_at=x.updated_at,
        )
        for x in gaps
    ]


def gap_json(row: GapRow) -> dict[str, object]:
    return {
        "id": row.id,
        "day": row.day.isoformat(),
        "kind": row.kind,
        "kind_label": KIND_LABELS.get(row.kind, row.kind),
        "subject": row.subject,
        "branch_code": row.branch_code,
        "counter_code": row.counter_code,
        "staff_code": row.staff_code,
        "business_serial": row.business_serial,
        "clip_id": row.clip_id,
        "status": row.status,
        "note": row.note,
        "current": row.current,
        "updated_by": row.updated_by,
        "updated_at": row.updated_at.isoformat() if row.updated_at else None,
    }
