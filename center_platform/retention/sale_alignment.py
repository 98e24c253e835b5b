"""Retention follows the sale: every archived clip of one sale (same branch, same business serial) is
kept as long as the longest-kept of them, so that a re-recording, a supplementary or an imported clip
never outlives, nor is outlived by, the rest of the sale's evidence.

Applied whenever a clip's retain-until is set or moves (ingest, redemption, disputes, product terms):
the latest date among the sale's clips is given to each clip that has less, in the store first (clip
and manifest), then in the catalogue, each change audited. It only ever moves dates later.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from center_platform.audit import trail as audit
from center_platform.db.models import ARCHIVED, Recording
from center_platform.retention.events import evidence_versions
from storage.object_store import ObjectStore


def sale_clips(session: Session, branch_id: int, business_serial: str) -> list[Recording]:
    return list(
        session.execute(
            select(Recording)
            .where(
                Recording.branch_id == branch_id,
                Recording.business_serial == business_serial,
                Recording.state == ARCHIVED,
            )
            .order_by(Recording.id)
        ).scalars()
    )


def align_sale(session: Session, store: ObjectStore, rec: Recording, actor: str) -> list[str]:
    """Gives every archived clip of `rec`'s sale the sale's latest retain-until; returns the clips moved."""
    clips = sale_clips(session, rec.branch_id, rec.business_serial)
    if rec not in clips:
        clips.append(rec)  # being catalogued in this transaction
    if len(clips) < 2:
        return []
    longest = max(clips, key=lambda c: (c.retain_until, c.id or 0))
    until: datetime = longest.retain_until
    moved = []
    for clip in clips:
        if clip.retain_until >= until:
            continue
        for v in evidence_versions(store, clip):
            store.set_retention(v.key, v.version_id, until)
        old = clip.retain_until
        reason = (
            f"follows sale {clip.business_serial}: kept as long as clip {longest.clip_id} ({longest.retention_reason})"
        )
        clip.retain_until, clip.retention_reason = until, reason[:2000]
        audit.append(
            session,
            actor,
            "retention.changed",
            clip.clip_id,
            {
                "event": "sale.retention_aligned",
                "old_retain_until": old.isoformat(),
                "new_retain_until": until.isoformat(),
                "reason": reason,
                "follows": longest.clip_id,
            },
        )
        moved.append(clip.clip_id)
    session.flush()
    return moved
