"""Receiving branch heartbeats: keep the latest per branch, file the branch's audit lines, log its alerts."""

from __future__ import annotations

import json
import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from center_platform.audit import trail as audit
from center_platform.config import AlertsSection
from center_platform.db.models import BranchAuditReceipt, BranchHeartbeat
from center_platform.operations.alert_watch import observe_heartbeat
from center_platform.reconciliation.takes import file_takes
from storage.contract.heartbeat import BranchAuditLine, Heartbeat, HeartbeatReceipt

log = logging.getLogger(__name__)


BRANCH_ACTION_PREFIX = "branch."


def branch_actor(branch_code: str, actor: str) -> str:
    """Who did it, as the center files it: always under the branch's name, never a center user's."""
    return f"branch:{branch_code}/{actor}"[:64]


def branch_action(action: str) -> str:
    # A branch line can never pose as a center action (a deletion certificate, a replay by a compliance
    # officer): its action lives in the branch namespace. The original is kept whole in the detail.
    return (BRANCH_ACTION_PREFIX + action)[:48]


def _branch_detail(branch_code: str, line: BranchAuditLine) -> dict[str, object]:
    try:
        original: object = json.loads(line.detail)
    except ValueError:
        original = line.detail  # kept verbatim: an audit line is evidence, not something to tidy up
    return {
        "origin": "branch",
        "branch": branch_code,
        "branch_audit_id": line.branch_audit_id,
        "at_branch": line.at.isoformat(),
        "branch_actor": line.actor,
        "branch_action": line.action,
        "detail": original,
    }


def file_branch_audit(db: Session, branch_id: int, branch_code: str, lines: list[BranchAuditLine]) -> list[int]:
    """Appends each line not filed before to the trail; returns every id now filed (new and old)."""
    if not lines:
        return []
    ids = sorted({line.branch_audit_id for line in lines})
    filed = set(
        db.execute(
            select(BranchAuditReceipt.branch_audit_id).where(
                BranchAuditReceipt.branch_id == branch_id, BranchAuditReceipt.branch_audit_id.in_(ids)
            )
        ).scalars()
    )
    for line in sorted(lines, key=lambda x: x.branch_audit_id):
        if line.branch_audit_id in filed:
            continue
        event = audit.append(
            db,
            branch_actor(branch_code, line.actor),
            branch_action(line.action),
            line.target,
            _branch_detail(branch_code, line),
        )
        db.add(BranchAuditReceipt(branch_id=branch_id, branch_audit_id=line.branch_audit_id, audit_event_id=event.id))
        filed.add(line.branch_audit_id)
    return ids


def _stored_state(beat: Heartbeat) -> Heartbeat:
    # Snapshots are kept per device (operations.devices), not again in every stored heartbeat.
    counters = [
        c.model_copy(
            update={
                "sources": [
                    s.model_copy(update={"diagnosis": s.diagnosis.model_copy(update={"snapshot_jpeg": b""})})
                    if s.diagnosis is not None
                    else s
                    for s in c.sources
                ]
            }
        )
        for c in beat.counters
    ]
    return beat.model_copy(update={"audit": [], "cancelled": [], "queued": None, "counters": counters})


def record_heartbeat(
    db: Session,
    branch_id: int,
    branch_code: str,
    beat: Heartbeat,
    now: datetime,
    alerts: AlertsSection | None = None,
) -> HeartbeatReceipt:
    """One transaction: the audit lines, the latest-heartbeat row, the branch's devices and the alerts
    they raise or clear commit together or not at all."""
    stored = file_branch_audit(db, branch_id, branch_code, beat.audit)
    # Cancelled takes ride with their audit lines (acknowledged by `audit_stored`), the backlog as a whole.
    file_takes(db, branch_id, beat.cancelled, beat.queued, now)
    row = db.execute(select(BranchHeartbeat).where(BranchHeartbeat.branch_id == branch_id)).scalar_one_or_none()
    if row is None:
        row = BranchHeartbeat(branch_id=branch_id)
        db.add(row)
    row.received_at = now
    row.sent_at = beat.sent_at
    row.software_version = beat.software_version
    row.clock_offset_s = beat.clock_offset_s
    row.queued_clips = beat.uploads.queued_clips
    row.queued_bytes = beat.uploads.queued_bytes
    row.alert_count = len(beat.alerts)
    # The audit lines are in the trail already; the stored heartbeat is the branch's state only.
    row.payload_json = _stored_state(beat).model_dump_json()
    if alerts is not None:
        try:
            with db.begin_nested():
                observe_heartbeat(db, branch_id, beat, now, alerts)
        except IntegrityError:
            # Two beats of one branch at once both opened the same alert: the other one's stands, and
            # this beat's audit lines and state must not be lost over it.
            log.warning("branch %s: devices and alerts of this heartbeat skipped (another beat at once)", branch_code)
    db.commit()
    for alert in beat.alerts:
        log.warning("branch %s alert %s: %s", branch_code, alert.code, alert.message)
    return HeartbeatReceipt(received_at=now, audit_stored=stored)
