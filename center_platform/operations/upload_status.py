"""The operations view of uploads: per branch, what waits, what failed, and whether the branch still reports.

Queue depth comes from the branch's latest heartbeat (only the branch knows what it has not sent);
verifications and quarantines come from the center's own ingest records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from center_platform.db.models import Branch, BranchHeartbeat, IngestUpload, Recording
from center_platform.ingest.manifest_chain import awaiting_predecessors, chain_restarts
from storage.contract.heartbeat import Heartbeat, HeartbeatAlert

# Three missed minutes: one late heartbeat is a hiccup, three mean the branch or its WAN is down.
HEARTBEAT_LATE_AFTER_S = 180.0


@dataclass(frozen=True)
class BranchUploadStatus:
    branch_code: str
    branch_name: str
    last_heartbeat_at: datetime | None
    heartbeat_age_s: float | None
    heartbeat_late: bool
    clock_offset_s: float | None
    software_version: str | None
    queued_clips: int | None
    queued_bytes: int | None
    oldest_unverified_at: datetime | None
    last_success_at: datetime | None  # the newest clip the center verified for this branch
    quarantined_clips: int
    last_quarantine_reason: str
    last_branch_error: str
    disk_free_bytes: int | None
    disk_days_left: float | None
    # Manifests named as predecessors by archived clips and not archived themselves: clips still to come, or lost.
    missing_predecessors: list[str] = field(default_factory=list)
    # Clips that started the branch's manifest chain again although it already had one.
    chain_restarts: int = 0
    alerts: list[HeartbeatAlert] = field(default_factory=list)


def branch_upload_statuses(db: Session, now: datetime) -> list[BranchUploadStatus]:
    branches = db.execute(select(Branch).where(Branch.active.is_(True)).order_by(Branch.code)).scalars().all()
    beats = {b.branch_id: b for b in db.execute(select(BranchHeartbeat)).scalars()}
    verified = dict(
        db.execute(select(Recording.branch_id, func.max(Recording.verified_at)).group_by(Recording.branch_id))
        .tuples()
        .all()
    )
    quarantined = dict(
        db.execute(
            select(IngestUpload.branch_id, func.count())
            .where(IngestUpload.state == "quarantined")
            .group_by(IngestUpload.branch_id)
        )
        .tuples()
        .all()
    )
    out = []
    for branch in branches:
        row = beats.get(branch.id)
        beat = Heartbeat.model_validate_json(row.payload_json) if row is not None else None
        reason = ""
        if quarantined.get(branch.id):
            reason = db.execute(
                select(IngestUpload.reason)
                .where(IngestUpload.branch_id == branch.id, IngestUpload.state == "quarantined")
                .order_by(IngestUpload.updated_at.desc())
                .limit(1)
            ).scalar_one()
        age = (now - row.received_at).total_seconds() if row is not None else None
        out.append(
            BranchUploadStatus(
                branch_code=branch.code,
                branch_name=branch.name,
                last_heartbeat_at=row.received_at if row else None,
                heartbeat_age_s=age,
                heartbeat_late=age is None or age > HEARTBEAT_LATE_AFTER_S,
                clock_offset_s=row.clock_offset_s if row else None,
                software_version=row.software_version if row else None,
                queued_clips=row.queued_clips if row else None,
                queued_bytes=row.queued_bytes if row else None,
                oldest_unverified_at=beat.uploads.oldest_unverified_at if beat else None,
                last_success_at=verified.get(branch.id),
                quarantined_clips=int(quarantined.get(branch.id, 0)),
                last_quarantine_reason=reason,
                last_branch_error=beat.uploads.last_error if beat else "",
                disk_free_bytes=beat.disk.free_bytes if beat else None,
                disk_days_left=beat.disk.days_left if beat else None,
                missing_predecessors=awaiting_predecessors(db, branch.id),
                chain_restarts=chain_restarts(db, branch.id),
                alerts=list(beat.alerts) if beat else [],
            )
        )
    return out


def status_json(s: BranchUploadStatus) -> dict[str, object]:
    def iso(t: datetime | None) -> str | None:
        return t.isoformat() if t else None

    return {
        "branch_code": s.branch_code,
        "branch_name": s.branch_name,
        "last_heartbeat_at": iso(s.last_heartbeat_at),
        "heartbeat_age_s": s.heartbeat_age_s,
        "heartbeat_late": s.heartbeat_late,
        "clock_offset_s": s.clock_offset_s,
        "software_version": s.software_version,
        "queued_clips": s.queued_clips,
        "queued_bytes": s.queued_bytes,
        "oldest_unverified_at": iso(s.oldest_unverified_at),
        "last_success_at": iso(s.last_success_at),
        "quarantined_clips": s.quarantined_clips,
        "last_quarantine_reason": s.last_quarantine_reason,
        "last_branch_error": s.last_branch_error,
        "disk_free_bytes": s.disk_free_bytes,
        "disk_days_left": s.disk_days_left,
        "missing_predecessors": s.missing_predecessors,
        "chain_restarts": s.chain_restarts,
        "alerts": [a.model_dump() for a in s.alerts],
    }
