"""Filing what a heartbeat says about takes: cancelled ones (kept for good, once per clip id) and the
upload backlog (replaced by each heartbeat that reports it)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from center_platform.db.models import Branch
from center_platform.db.reconciliation_models import CancelledTake, QueuedTake
from storage.contract.heartbeat import CancelledTakeReport, QueuedTakeReport


def file_takes(
    db: Session,
    branch_id: int,
    cancelled: list[CancelledTakeReport],
    queued: list[QueuedTakeReport] | None,
    now: datetime,
) -> None:
    """In the heartbeat's transaction, so a cancelled take is stored exactly when its audit line is."""
    if cancelled:
        tz = ZoneInfo(db.execute(select(Branch.timezone).where(Branch.id == branch_id)).scalar_one())
        ids = [c.clip_id for c in cancelled]
        known = set(db.execute(select(CancelledTake.clip_id).where(CancelledTake.clip_id.in_(ids))).scalars())
        for c in cancelled:
            if c.clip_id in known:
                continue
            known.add(c.clip_id)
            db.add(
                CancelledTake(
                    clip_id=c.clip_id,
                    branch_id=branch_id,
                    counter_code=c.counter_code,
                    staff_code=c.staff_code,
                    business_serial=c.business_serial,
                    product_code=c.product_code,
                    reason=c.reason,
                    cancelled_at=c.cancelled_at,
                    take_day=c.cancelled_at.astimezone(tz).date(),
                    received_at=now,
                )
            )
    if queued is not None:
        db.execute(delete(QueuedTake).where(QueuedTake.branch_id == branch_id))
        rows = {q.clip_id: q for q in queued}.values()
        if rows:
            db.execute(
                insert(QueuedTake),
                [
                    {
                        "branch_id": branch_id,
                        "clip_id": q.clip_id,
                        "business_serial": q.business_serial,
                        "counter_code": q.counter_code,
                        "staff_code": q.staff_code,
                        "started_at": q.started_at,
                    }
                    for q in rows
                ],
            )
