"""What the spool holds: disk use and days left, and the upload backlog. Shared by the admin page,
the disk guard and the heartbeat so that all three say the same thing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from branch_agent.db.models import COMPLETED, INTERRUPTED, PENDING, PURGED, QUARANTINED, UPLOADED, UPLOADING, Clip
from branch_agent.spool.disk_forecast import RATE_WINDOW, DiskForecast, forecast_disk

QUEUED = (PENDING, UPLOADING, UPLOADED)
# Everything the center has not confirmed: the branch copy is the only copy of these.
UNVERIFIED = (*QUEUED, QUARANTINED)
RECORDED = (COMPLETED, INTERRUPTED)


def measure_spool_disk(sessions: sessionmaker[Session], spool_dir: Path, now: datetime) -> DiskForecast:
    with sessions() as db:
        # SUM over no clips is NULL.
        spool_bytes = (
            db.execute(
                select(func.sum(Clip.size)).where(Clip.state.in_(RECORDED), Clip.upload_state != PURGED)
            ).scalar_one()
            or 0
        )
        recent = db.execute(
            select(Clip.started_at, Clip.size).where(
                Clip.state.in_(RECORDED), Clip.started_at >= now - RATE_WINDOW - timedelta(days=1)
            )
        ).all()
    return forecast_disk(spool_dir, spool_bytes, [(at, size or 0) for at, size in recent], now)


@dataclass(frozen=True)
class UploadBacklog:
    queued_clips: int
    queued_bytes: int
    quarantined_clips: int
    last_success_at: datetime | None
    oldest_unverified_clip_id: str | None
    oldest_unverified_at: datetime | None
    last_error: str


def upload_backlog(sessions: sessionmaker[Session]) -> UploadBacklog:
    with sessions() as db:
        queued_clips, queued_bytes = db.execute(
            select(func.count(), func.coalesce(func.sum(Clip.size), 0)).where(Clip.upload_state.in_(QUEUED))
        ).one()
        quarantined = db.execute(select(func.count()).where(Clip.upload_state == QUARANTINED)).scalar_one()
        last_success = db.execute(select(func.max(Clip.verified_at))).scalar_one()
        oldest = db.execute(
            select(Clip.clip_id, Clip.started_at)
            .where(Clip.upload_state.in_(UNVERIFIED))
            .order_by(Clip.started_at)
            .limit(1)
        ).first()
        last_error = db.execute(
            select(Clip.upload_error)
            .where(Clip.upload_state.in_(UNVERIFIED), Clip.upload_error != "")
            .order_by(Clip.started_at.desc())
            .limit(1)
        ).scalar_one_or_none()
    return UploadBacklog(
        queued_clips=int(queued_clips),
        queued_bytes=int(queued_bytes),
        quarantined_clips=int(quarantined),
        last_success_at=last_success,
        oldest_unverified_clip_id=oldest[0] if oldest else None,
        oldest_unverified_at=oldest[1] if oldest else None,
        last_error=last_error or "",
    )
