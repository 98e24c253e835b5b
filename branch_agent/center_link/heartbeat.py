"""The minute heartbeat: cameras, disk, upload backlog, sync state, clock offset and alerts, plus the
branch-local audit lines the center has not filed yet (marked sent only once the center's receipt names them)."""

from __future__ import annotations

import importlib.metadata
import logging
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from branch_agent.center_link.client import CenterRefused, CenterUnavailable
from branch_agent.center_link.sync import center_branch_view, config_mismatches, sync_reports
from branch_agent.center_link.take_reports import cancelled_takes, queued_takes
from branch_agent.db.models import LocalAudit
from branch_agent.gb28181.service import platform_report
from branch_agent.spool.disk_forecast import DiskForecast
from branch_agent.spool.disk_guard import find_shortage
from branch_agent.spool.usage import measure_spool_disk, upload_backlog
from storage.contract.heartbeat import (
    BranchAuditLine,
    CounterHealthReport,
    DiskReport,
    Heartbeat,
    HeartbeatAlert,
    SourceHealthReport,
    UploadReport,
)
from storage.database import utcnow

if TYPE_CHECKING:
    from branch_agent.services import BranchServices

log = logging.getLogger(__name__)
# Lines per heartbeat: keeps a request well under the center's body limit; a backlog drains over a few minutes.
AUDIT_BATCH = 100
DISTRIBUTION = "dual-recording"


@dataclass(frozen=True)
class HeartbeatStatus:
    """The last attempt, for the branch admin page."""

    at: str
    ok: bool
    error: str
    audit_lines_sent: int
    alerts: list[str]


def software_version() -> str:
    return importlib.metadata.version(DISTRIBUTION)


def _alerts(svc: BranchServices, disk: DiskForecast) -> list[HeartbeatAlert]:
    alerts = []
    shortage = find_shortage(svc.config.spool, disk)
    if shortage:
        alerts.append(HeartbeatAlert(code="disk_low", message=shortage.message))
    view = center_branch_view(svc.sessions)
    if view is not None:
        for line in config_mismatches(svc.config, view):
            alerts.append(HeartbeatAlert(code="config_mismatch", message=line))
    for report in sync_reports(svc.sessions):
        if report.error:
            alerts.append(HeartbeatAlert(code="sync_failed", message=f"{report.resource}: {report.error}"))
    return alerts


def build_heartbeat(svc: BranchServices, now: datetime) -> Heartbeat:
    counters = [
        CounterHealthReport(
            code=code,
            recording=svc.counters[code].active_clip is not None if code in svc.counters else False,
            sources=[
                SourceHealthReport(
                    **asdict(h), role=role, diagnosis=svc.diagnosis.for_heartbeat(code, role) if svc.diagnosis else None
                )
                for role, h in zip(("environment", "desk", "microphone"), sources.health(), strict=True)
            ],
        )
        for code, sources in svc.sources.items()
    ]
    disk = measure_spool_disk(svc.sessions, svc.config.spool_dir, now)
    backlog = upload_backlog(svc.sessions)
    with svc.sessions() as db:
        lines = (
            db.execute(
                select(LocalAudit).where(LocalAudit.sent_at.is_(None)).order_by(LocalAudit.id).limit(AUDIT_BATCH)
            )
            .scalars()
            .all()
        )
        audit = [
            BranchAuditLine(
                branch_audit_id=a.id, at=a.at, actor=a.actor, action=a.action, target=a.target, detail=a.detail
            )
            for a in lines
        ]
        cancelled = cancelled_takes(db, lines)
        queued = queued_takes(db)
    return Heartbeat(
        sent_at=now,
        software_version=software_version(),
        clock_offset_s=svc.client.clock_offset_s,
        counters=counters,
        disk=DiskReport(**asdict(disk)),
        uploads=UploadReport(**asdict(backlog)),
        sync=sync_reports(svc.sessions),
        alerts=_alerts(svc, disk),
        audit=audit,
        gb28181=platform_report(svc.gb28181),
        cancelled=cancelled,
        queued=queued,
    )


def send_heartbeat(svc: BranchServices) -> HeartbeatStatus:
    """Builds and sends one heartbeat; a failure is logged and kept as the status, the lines stay unsent."""
    now = utcnow()
    beat = build_heartbeat(svc, now)
    alerts = [f"{a.code}: {a.message}" for a in beat.alerts]
    try:
        receipt = svc.client.send_heartbeat(beat)
    except (CenterUnavailable, CenterRefused) as exc:
        log.warning("heartbeat not delivered (audit lines stay queued): %s", exc)
        status = HeartbeatStatus(now.isoformat(), False, str(exc), 0, alerts)
    else:
        if svc.diagnosis is not None:
            svc.diagnosis.snapshots_delivered(beat)
        offered = {line.branch_audit_id for line in beat.audit}
        acknowledged = [i for i in receipt.audit_stored if i in offered]
        if acknowledged:
            with svc.sessions() as db:
                db.execute(
                    update(LocalAudit)
                    .where(LocalAudit.id.in_(acknowledged), LocalAudit.sent_at.is_(None))
                    .values(sent_at=receipt.received_at)
                )
                db.commit()
        status = HeartbeatStatus(now.isoformat(), True, "", len(acknowledged), alerts)
    svc.last_heartbeat = status
    return status
