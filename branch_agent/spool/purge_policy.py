"""Frees the spool of clips the center has verified, once the local replay period is over.

Only a clip in state *verified* is ever touched, and only with the center's signed verification kept
beside it (`verification_receipt`): pending, uploading, uploaded and quarantined clips, and a clip
marked verified without that receipt, are the only copy of their evidence and stay whatever their
age. The manifest stays too (it is small and says what was here); the media file goes, the directory
is fsync'd, and the clip moves to *purged* with a transition row and an audit line in the same
transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from branch_agent.db.models import PURGED, VERIFIED, Clip, UploadTransition
from branch_agent.spool.clip_manifest import audit_local, fsync_dir
from branch_agent.spool.replay_index import remove_index
from branch_agent.spool.verification_receipt import confirms_verified

log = logging.getLogger(__name__)
SYSTEM_ACTOR = "system"


@dataclass(frozen=True)
class PurgedClip:
    clip_id: str
    media_path: Path
    bytes_freed: int
    file_was_missing: bool


def purge_verified_clips(sessions: sessionmaker[Session], keep_verified_days: int, now: datetime) -> list[PurgedClip]:
    """Clips recorded more than keep_verified_days ago and verified by the center lose their media file."""
    cutoff = now - timedelta(days=keep_verified_days)
    with sessions() as db:
        ids = list(
            db.execute(
                select(Clip.clip_id)
                .where(
                    Clip.upload_state == VERIFIED,
                    Clip.verified_at.is_not(None),
                    Clip.verification_receipt.is_not(None),
                    Clip.started_at < cutoff,
                )
                .order_by(Clip.started_at)
            ).scalars()
        )
    purged = []
    for clip_id in ids:
        with sessions() as db:
            clip = db.execute(select(Clip).where(Clip.clip_id == clip_id)).scalar_one()
            if clip.upload_state != VERIFIED:  # changed since the query: leave it alone
                continue
            if not confirms_verified(clip.verification_receipt, clip.clip_id):
                log.error("ALERT clip %s is marked verified without the center's signed receipt: not purged", clip_id)
                continue
            media = Path(clip.media_path)
            missing = not media.exists()
            size = 0 if missing else media.stat().st_size
            media.unlink(missing_ok=True)
            remove_index(media)
            if media.parent.exists():
                fsync_dir(media.parent)
            detail = f"kept {keep_verified_days} days after recording; {'file already missing' if missing else f'{size} bytes freed'}"
            db.add(UploadTransition(clip_id=clip.clip_id, from_state=VERIFIED, to_state=PURGED, detail=detail))
            clip.upload_state = PURGED
            audit_local(
                db,
                SYSTEM_ACTOR,
                "spool.purged",
                clip.clip_id,
                {
                    "media_path": str(media),
                    "bytes": size,
                    "file_was_missing": missing,
                    "keep_verified_days": keep_verified_days,
                    "verified_at": clip.verified_at.isoformat() if clip.verified_at else None,
                    "retain_until": clip.retain_until,
                },
            )
            db.commit()
        if missing:
            log.warning("purge of %s: its media file %s was already gone", clip_id, media)
        purged.append(PurgedClip(clip_id, media, size, missing))
    if purged:
        log.info(
            "spool purge: %d verified clips removed, %d bytes freed", len(purged), sum(p.bytes_freed for p in purged)
        )
    return purged
