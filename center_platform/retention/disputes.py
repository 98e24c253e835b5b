"""Events that move a recording's retention: a redemption, a dispute opened, a dispute closed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from center_platform.audit import trail as audit
from center_platform.db.models import AuditEvent, Dispute, Recording, utcnow
from center_platform.retention.events import RetentionChange, purchase_day, recompute
from storage.object_store import ObjectStore


class RetentionEventError(ValueError):
    """Bad input or a state conflict; `status` is the HTTP answer and `field` names the offending input."""

    def __init__(self, message: str, status: int = 400, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.field = field


@dataclass(frozen=True)
class DisputeView:
    id: int
    reference: str
    reason: str
    opened_at: str
    opened_by: str
    closed_at: str | None
    closed_by: str | None
    closed_on: str | None
    resolution: str

    @classmethod
    def of(cls, d: Dispute) -> DisputeView:
        return cls(
            d.id,
            d.reference,
            d.reason,
            d.opened_at.isoformat(),
            d.opened_by,
            d.closed_at.isoformat() if d.closed_at else None,
            d.closed_by,
            d.closed_on.isoformat() if d.closed_on else None,
            d.resolution,
        )


@dataclass(frozen=True)
class HistoryEntry:
    at: str
    actor: str
    action: str
    detail: str


def archived_recording(session: Session, clip_id: str) -> Recording:
    rec = session.execute(select(Recording).where(Recording.clip_id == clip_id)).scalar_one_or_none()
    if rec is None:
        raise RetentionEventError(f"no recording {clip_id}", 404)
    if rec.state != "archived":
        raise RetentionEventError(f"recording {clip_id} is {rec.state}", 409)
    return rec


def _local_today(rec: Recording, now: datetime | None) -> date:
    return (now or utcnow()).astimezone(ZoneInfo(rec.branch.timezone)).date()


def record_redemption(
    session: Session, store: ObjectStore, clip_id: str, redeemed_on: date, actor: str, now: datetime | None = None
) -> RetentionChange:
    rec = archived_recording(session, clip_id)
    bought = purchase_day(rec)
    if redeemed_on < bought:
        raise RetentionEventError(f"redeemed_on {redeemed_on} is before the purchase on {bought}", 400, "redeemed_on")
    today = _local_today(rec, now)
    if redeemed_on > today:
        raise RetentionEventError(f"redeemed_on {redeemed_on} is in the future (today is {today})", 400, "redeemed_on")
    previous = rec.redeemed_on
    rec.redeemed_on = redeemed_on
    audit.append(
        session,
        actor,
        "retention.redemption",
        clip_id,
        {"redeemed_on": redeemed_on.isoformat(), "previous": previous.isoformat() if previous else None},
    )
    return recompute(session, store, rec, "redemption recorded", actor, {"redeemed_on": redeemed_on.isoformat()})


def open_dispute(
    session: Session, store: ObjectStore, clip_id: str, reference: str, reason: str, actor: str
) -> Dispute:
    reference, reason = reference.strip(), reason.strip()
    if not reference or len(reference) > 64:
        raise RetentionEventError("reference: the case reference is required (at most 64 characters)", 400, "reference")
    if not reason:
        raise RetentionEventError("reason: say why the dispute is opened", 400, "reason")
    rec = archived_recording(session, clip_id)
    dispute = Dispute(recording_id=rec.id, reference=reference, reason=reason, opened_at=utcnow(), opened_by=actor)
    session.add(dispute)
    session.flush()
    audit.append(
        session, actor, "dispute.opened", clip_id, {"dispute_id": dispute.id, "reference": reference, "reason": reason}
    )
    recompute(session, store, rec, "dispute opened", actor, {"dispute_id": dispute.id, "reference": reference})
    return dispute


def close_dispute(
    session: Session,
    store: ObjectStore,
    clip_id: str,
    dispute_id: int,
    resolution: str,
    actor: str,
    now: datetime | None = None,
) -> Dispute:
    resolution = resolution.strip()
    if not resolution:
        raise RetentionEventError("resolution: say how the dispute was resolved", 400, "resolution")
    rec = archived_recording(session, clip_id)
    dispute = session.get(Dispute, dispute_id)
    if dispute is None or dispute.recording_id != rec.id:
        raise RetentionEventError(f"recording {clip_id} has no dispute {dispute_id}", 404)
    if dispute.closed_at is not None:
        raise RetentionEventError(f"dispute {dispute_id} was already closed on {dispute.closed_on}", 409)
    at = now or utcnow()
    dispute.closed_at = at
    dispute.closed_by = actor
    dispute.closed_on = _local_today(rec, at)
    dispute.resolution = resolution
    session.flush()
    audit.append(
        session,
        actor,
        "dispute.closed",
        clip_id,
        {
            "dispute_id": dispute.id,
            "reference": dispute.reference,
            "closed_on": dispute.closed_on.isoformat(),
            "resolution": resolution,
        },
    )
    recompute(session, store, rec, "dispute closed", actor, {"dispute_id": dispute.id, "reference": dispute.reference})
    return dispute


def disputes_of(session: Session, rec: Recording) -> list[DisputeView]:
    rows = session.execute(select(Dispute).where(Dispute.recording_id == rec.id).order_by(Dispute.id)).scalars().all()
    return [DisputeView.of(d) for d in rows]


def retention_history(session: Session, rec: Recording) -> list[HistoryEntry]:
    rows = (
        session.execute(
            select(AuditEvent)
            .where(
                AuditEvent.target == rec.clip_id,
                AuditEvent.action.in_(
                    (
                        "ingest.verified",
                        "retention.changed",
                        "retention.kept",
                        "retention.redemption",
                        "dispute.opened",
                        "dispute.closed",
                        "retention.deleted",
                        "retention.delete_refused",
                    )
                ),
            )
            .order_by(AuditEvent.id)
        )
        .scalars()
        .all()
    )
    return [HistoryEntry(r.at.isoformat(), r.actor, r.action, r.detail) for r in rows]
