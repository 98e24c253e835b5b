"""What the heartbeat tells the center about takes: those cancelled at the counter (from the spool and
their audit lines) and the clips still waiting for upload, so the center's reconciliation counts them."""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from branch_agent.db.models import CANCELLED, Clip, LocalAudit
from branch_agent.spool.usage import QUEUED
from storage.contract.heartbeat import MAX_QUEUED_TAKES, CancelledTakeReport, QueuedTakeReport

CANCEL_ACTION = "recording.cancelled"


def cancelled_takes(db: Session, lines: Sequence[LocalAudit]) -> list[CancelledTakeReport]:
    """One report per cancel audit line of this heartbeat: it is acknowledged with that line."""
    cancels = {a.target: a for a in lines if a.action == CANCEL_ACTION}
    if not cancels:
        return []
    clips = db.execute(select(Clip).where(Clip.clip_id.in_(cancels), Clip.state == CANCELLED)).scalars()
    out = []
    for clip in clips:
        line = cancels[clip.clip_id]
        try:
            reason = str(json.loads(line.detail).get("reason", ""))
            product = str(json.loads(clip.sale_json).get("product_code", ""))
        except (ValueError, AttributeError):
            reason, product = line.detail, ""
        out.append(
            CancelledTakeReport(
                branch_audit_id=line.id,
                clip_id=clip.clip_id,
                business_serial=clip.business_serial,
                counter_code=clip.counter_code,
                staff_code=clip.staff_code,
                product_code=product[:40],
                reason=reason[:2000],
                cancelled_at=line.at,
            )
        )
    return out


def queued_takes(db: Session) -> list[QueuedTakeReport]:
    clips = db.execute(
        select(Clip).where(Clip.upload_state.in_(QUEUED)).order_by(Clip.started_at).limit(MAX_QUEUED_TAKES)
    ).scalars()
    return [
        QueuedTakeReport(
            clip_id=c.clip_id,
            business_serial=c.business_serial,
            counter_code=c.counter_code,
            staff_code=c.staff_code,
            started_at=c.started_at,
        )
        for c in clips
    ]
