"""Supplementary recordings of the branch, approved or rejected by its admin, and the decisions sent on to
the center.

A supplementary recording's signed manifest says what it is (`origin` "supplementary", with the
reason and the time of sale the relationship manager entered); the list reads it from the clips still
in the spool. A decision is taken once at the branch, audited, and kept until the center has
answered on it: it is sent at once and again with every sync while the center cannot be reached. The center holds a compliance officer's decision above the branch's and says so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from branch_agent.center_link.client import CenterClient, CenterRefused, CenterUnavailable
from branch_agent.db.models import Clip
from branch_agent.db.supplementary_models import SupplementaryDecisionRow
from branch_agent.spool.clip_manifest import audit_local
from storage.contract.supplementary import MAX_DECISIONS, SupplementaryDecision, SupplementaryDecisions
from storage.database import utcnow
from storage.manifest import ClipManifest, ManifestError

log = logging.getLogger(__name__)

LISTED_DAYS = 92  # supplementary recordings of about the last quarter are listed
APPROVED, REJECTED, PENDING = "approved", "rejected", "pending"


class ReviewRefused(ValueError):
    """A decision that cannot be taken; the message is for the branch admin (Chinese, then English)."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class SupplementaryClip:
    clip_id: str
    business_serial: str
    staff_code: str
    customer_name: str
    product_name: str
    recorded_at: datetime
    sale_at: datetime
    why: str
    state: str  # pending | approved | rejected (the branch's decision, or the center's when it overruled)
    decided_by: str | None
    decision_reason: str | None
    sent: bool
    center_note: str


# How a supplementary manifest's canonical form (sorted keys, no spaces) says what it is.
_SUPPLEMENTARY_MARK = b'"origin":"supplementary"'


def _manifest(clip: Clip, only_supplementary: bool = False) -> ClipManifest | None:
    if not clip.manifest_path:
        return None
    try:
        raw = Path(clip.manifest_path).read_bytes()
        # Most clips are not supplementary: a look at the bytes spares parsing and checking each one.
        if only_supplementary and _SUPPLEMENTARY_MARK not in raw:
            return None
        return ClipManifest.parse(raw)
    except (OSError, ManifestError):
        return None


def _supplementary(db: Session, since: datetime) -> list[tuple[Clip, ClipManifest]]:
    clips = db.execute(
        select(Clip)
        .where(Clip.manifest_path.is_not(None), Clip.started_at >= since)
        .order_by(Clip.started_at.desc(), Clip.id.desc())
    ).scalars()
    out = []
    for clip in clips:
        m = _manifest(clip, only_supplementary=True)
        if m is not None and m.origin == "supplementary" and m.supplementary is not None:
            out.append((clip, m))
    return out


def _view(clip: Clip, m: ClipManifest, d: SupplementaryDecisionRow | None) -> SupplementaryClip:
    assert m.supplementary is not None
    state = PENDING if d is None else (d.center_state if d.center_outcome == "overruled" else d.decision)
    note = ""
    if d is not None and d.center_outcome == "overruled":
        note = "中心合规已另行审批 / compliance at the center decided otherwise"
    elif d is not None and d.center_outcome == "refused":
        note = d.send_error
    elif d is not None and d.sent_at is None and d.send_error:
        note = "尚未送达中心，将自动重试 / not yet at the center, sent again automatically"
    return SupplementaryClip(
        clip_id=clip.clip_id,
        business_serial=m.business_serial,
        staff_code=m.staff_code,
        customer_name=m.customer.name,
        product_name=m.product.name,
        recorded_at=m.started_at,
        sale_at=m.supplementary.sale_at,
        why=m.supplementary.reason,
        state=state or PENDING,
        decided_by=d.decided_by if d else None,
        decision_reason=d.reason if d else None,
        sent=d is not None and d.sent_at is not None,
        center_note=note,
    )


def supplementary_clips(sessions: sessionmaker[Session], now: datetime) -> list[SupplementaryClip]:
    with sessions() as db:
        found = _supplementary(db, now - timedelta(days=LISTED_DAYS))
        ids = [c.clip_id for c, _ in found]
        decided = {
            d.clip_id: d
            for d in db.execute(
                select(SupplementaryDecisionRow).where(SupplementaryDecisionRow.clip_id.in_(ids))
            ).scalars()
        }
        return [_view(c, m, decided.get(c.clip_id)) for c, m in found]


def decide(sessions: sessionmaker[Session], clip_id: str, decision: str, reason: str, staff_code: str) -> None:
    if decision not in (APPROVED, REJECTED):
        raise ReviewRefused("请选择批准或驳回 / choose approve or reject")
    reason = reason.strip()
    if not reason:
        raise ReviewRefused("请填写审批意见 / give the reason for the decision")
    if len(reason) > 500:
        raise ReviewRefused("审批意见最多500字 / the reason is at most 500 characters")
    with sessions() as db:
        clip = db.execute(select(Clip).where(Clip.clip_id == clip_id)).scalar_one_or_none()
        m = _manifest(clip) if clip is not None else None
        if m is None or m.origin != "supplementary":
            raise ReviewRefused("该录像不是本网点的事后补录 / not a supplementary recording of this branch", 404)
        if db.execute(select(SupplementaryDecisionRow.id).where(SupplementaryDecisionRow.clip_id == clip_id)).first():
            raise ReviewRefused("该补录已审批 / this supplementary recording was decided already", 409)
        db.add(
            SupplementaryDecisionRow(
                clip_id=clip_id,
                business_serial=m.business_serial,
                decision=decision,
                reason=reason,
                decided_by=staff_code,
                decided_at=utcnow(),
            )
        )
        audit_local(
            db, staff_code, f"supplementary.{decision}", clip_id, {"serial": m.business_serial, "reason": reason}
        )
        db.commit()


def send_decisions(sessions: sessionmaker[Session], client: CenterClient) -> int:
    """Sends the decisions the center has not answered on yet; returns how many it answered on."""
    with sessions() as db:
        waiting = list(
            db.execute(
                select(SupplementaryDecisionRow)
                .where(SupplementaryDecisionRow.sent_at.is_(None))
                .order_by(SupplementaryDecisionRow.id)
                .limit(MAX_DECISIONS)
            ).scalars()
        )
        if not waiting:
            return 0
        batch = SupplementaryDecisions(
            decisions=[
                SupplementaryDecision(
                    clip_id=d.clip_id,
                    business_serial=d.business_serial,
                    decision=d.decision,
                    reason=d.reason,
                    decided_by=d.decided_by,
                    decided_at=d.decided_at,
                )
                for d in waiting
            ]
        )
        try:
            receipt = client.send_supplementary_decisions(batch)
        except (CenterUnavailable, CenterRefused) as exc:
            log.warning("supplementary decisions not sent: %s", exc)
            for d in waiting:
                d.send_error = str(exc)[:500]
            db.commit()
            return 0
        answered = {o.clip_id: o for o in receipt.outcomes}
        now = utcnow()
        for d in waiting:
            o = answered.get(d.clip_id)
            if o is None:
                continue
            d.sent_at, d.center_outcome, d.center_state, d.send_error = now, o.outcome, o.state, o.detail
        db.commit()
        return len(answered)
