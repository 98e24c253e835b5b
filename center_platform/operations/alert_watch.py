"""Where alerts come from: each heartbeat (the branch's devices, picture diagnosis, disk, backlog and
what the branch reports) and the periodic sweep (late heartbeats, chain gaps, quarantines, failed
checks), both through `alerts.observe` with the configured debounce and the webhook outbox."""

from __future__ import annotations

import logging
import os
import secrets
import socket
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from center_platform.config import AlertsSection
from center_platform.db import job_lock
from center_platform.db.config_models import BranchCentralConfig, BranchConfigReport
from center_platform.db.models import Branch, Recording
from center_platform.operations.alert_delivery import deliver_due, outbox
from center_platform.operations.alerts import Condition, Debounce, Scope, Transition, observe
from center_platform.operations.devices import heartbeat_conditions, record_devices
from center_platform.operations.store_scrub import latest_runs
from center_platform.operations.upload_status import branch_upload_statuses
from storage.contract.heartbeat import Heartbeat
from storage.database import utcnow

log = logging.getLogger(__name__)
SWEEP_KINDS: Final = frozenset({"heartbeat_late", "chain_gap", "quarantine", "check_failed"})
# Recordings that failed the quality check count for a day: long enough for someone to look.
FAILED_CHECK_WINDOW: Final = timedelta(days=1)


def _debounce(cfg: AlertsSection) -> Debounce:
    return Debounce(cfg.raise_after, cfg.clear_after)


def _log(transitions: list[Transition]) -> None:
    for t in transitions:
        log.warning("ALERT %s %s %s: %s", t.event, t.kind, t.subject, t.message)


def observe_heartbeat(db: Session, branch_id: int, beat: Heartbeat, now: datetime, cfg: AlertsSection) -> None:
    """Devices recorded and the branch's conditions observed, in the heartbeat's transaction."""
    branch = db.get(Branch, branch_id)
    if branch is None:
        return
    current = record_devices(db, branch_id, beat, now)
    scope, conditions = heartbeat_conditions(branch, beat, current, now, timedelta(hours=cfg.backlog_max_age_hours))
    _log(observe(db, scope, conditions, now, _debounce(cfg), outbox(cfg)))


def sweep_conditions(db: Session, now: datetime) -> list[Condition]:
    out: list[Condition] = []
    ids = dict(db.execute(select(Branch.code, Branch.id)).tuples().all())
    for s in branch_upload_statuses(db, now):
        branch_id = ids.get(s.branch_code)
        if s.heartbeat_late:
            age = (
                f"{s.heartbeat_age_s / 60:.0f} 分钟未收到心跳 / no heartbeat for {s.heartbeat_age_s / 60:.0f} min"
                if s.heartbeat_age_s is not None
                else "从未收到心跳 / never sent a heartbeat"
            )
            out.append(
                Condition(
                    "heartbeat_late", f"{s.branch_code}/heartbeat", f"{s.branch_code}: {age}", branch_id, "critical"
                )
            )
        if s.missing_predecessors or s.chain_restarts:
            out.append(
                Condition(
                    "chain_gap",
                    f"{s.branch_code}/chain",
                    f"{s.branch_code}: 缺少 {len(s.missing_predecessors)} 段前序录像，链重启 {s.chain_restarts} 次 / "
                    f"{len(s.missing_predecessors)} predecessors missing, chain restarted {s.chain_restarts} times",
                    branch_id,
                )
            )
        if s.quarantined_clips:
            out.append(
                Condition(
                    "quarantine",
                    f"{s.branch_code}/quarantine",
                    f"{s.branch_code}: {s.quarantined_clips} 段录像被隔离 / clips quarantined: "
                    f"{s.last_quarantine_reason}"[:1000],
                    branch_id,
                    "critical",
                )
            )
    failed = (
        db.execute(
            select(Branch.code, Branch.id, func.count())
            .join(Recording, Recording.branch_id == Branch.id)
            .where(Recording.quality_verdict == "fail", Recording.verified_at >= now - FAILED_CHECK_WINDOW)
            .group_by(Branch.code, Branch.id)
        )
        .tuples()
        .all()
    )
    for code, branch_id, n in failed:
        out.append(
            Condition(
                "check_failed",
                f"{code}/quality",
                f"{code}: 一天内 {n} 段录像质检不合格 / {n} recordings failed the quality check in a day",
                branch_id,
            )
        )
    # A branch still running an older version than the one set for it: the admin who set it must know.
    refused = db.execute(
        select(Branch.code, Branch.id, BranchConfigReport)
        .join(BranchConfigReport, BranchConfigReport.branch_id == Branch.id)
        .join(BranchCentralConfig, BranchCentralConfig.branch_id == Branch.id)
        .where(BranchConfigReport.state == "refused", BranchConfigReport.version == BranchCentralConfig.version)
    ).tuples()
    for code, branch_id, report in refused:
        out.append(
            Condition(
                "config_refused",
                f"{code}/central-config",
                f"{code}: 集中配置第 {report.version} 版被拒，仍运行第 {report.applied_version} 版 / "
                f"central configuration version {report.version} refused, still running version "
                f"{report.applied_version}: {report.reason}"[:1000],
                branch_id,
            )
        )
    return out


def _scrub_conditions(sessions: sessionmaker[Session]) -> list[Condition]:
    runs = latest_runs(sessions, limit=1)
    if not runs or not (runs[0].missing or runs[0].altered):
        return []
    r = runs[0]
    return [
        Condition(
            "check_failed",
            "store/scrub",
            f"存储巡检：缺失 {r.missing}，被改动 {r.altered} / store scrub: {r.missing} missing, {r.altered} altered",
            None,
            "critical",
        )
    ]


def sweep(sessions: sessionmaker[Session], cfg: AlertsSection, now: datetime) -> list[Transition]:
    """One sweep of what no heartbeat says. The caller runs one at a time (a job lease)."""
    conditions = _scrub_conditions(sessions)
    with sessions() as db:
        conditions += sweep_conditions(db, now)
        transitions = observe(db, Scope(SWEEP_KINDS), conditions, now, _debounce(cfg), outbox(cfg))
        db.commit()
    _log(transitions)
    return transitions


WATCH_JOB: Final = "alert-watch"


def watch_round(sessions: sessionmaker[Session], cfg: AlertsSection) -> None:
    """The scheduled round: one sweep and the webhook deliveries due, by one center at a time (two
    sweeping at once would count each observation twice and halve the debounce)."""
    holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
    try:
        if not job_lock.acquire(sessions, WATCH_JOB, holder, timedelta(seconds=cfg.sweep_interval_s)):
            return
        try:
            now = utcnow()
            sweep(sessions, cfg, now)
            deliver_due(sessions, cfg, now)
        finally:
            job_lock.release(sessions, WATCH_JOB, holder)
    except Exception:  # the database may be away for a moment; the next round looks again
        log.exception("ALERT the alert sweep failed")
