"""The agent's background jobs (APScheduler, branch time zone): upload, sync (with the supplementary
approvals still to send), heartbeat, spool purge."""

from __future__ import annotations

import logging
from datetime import datetime, time

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from branch_agent.center_link.heartbeat import send_heartbeat
from branch_agent.services import BranchServices
from branch_agent.spool.purge_policy import purge_verified_clips
from branch_agent.spool.supplementary_review import send_decisions
from branch_agent.upload.uploader import UploadAlreadyRunning
from branch_agent.upload.window import in_window, window_opens_for
from storage.database import utcnow

log = logging.getLogger(__name__)


def build_scheduler(svc: BranchServices) -> BackgroundScheduler:
    """Not started: the caller starts it once the web server is about to serve."""
    config = svc.config

    def upload_if_in_window() -> None:
        # Read at every turn: the center may move the window (central configuration) while the agent runs.
        upload = svc.config.upload
        start = window_opens_for(config.branch.code, time.fromisoformat(upload.window_start))
        if not in_window(datetime.now(svc.tz), start, time.fromisoformat(upload.window_end)):
            return
        try:
            svc.uploader.run_once()
        except UploadAlreadyRunning:
            # "Upload now" (or the CLI) is sending the queue already; this turn has nothing to add.
            log.info("scheduled upload skipped: an upload is already running")

    def sync() -> None:
        try:
            svc.sync_from_center()
        finally:
            # The branch admin's decisions on supplementary recordings the center has not had yet.
            send_decisions(svc.sessions, svc.client)

    def purge() -> None:
        purge_verified_clips(svc.sessions, config.spool.keep_verified_days, utcnow())

    purge_at = time.fromisoformat(config.spool.purge_at)
    scheduler = BackgroundScheduler(timezone=svc.tz)
    # coalesce + max_instances=1: after a stall (suspend, slow WAN) a job runs once, never piles up.
    common = {"max_instances": 1, "coalesce": True}
    scheduler.add_job(upload_if_in_window, "interval", minutes=5, id="upload", **common)
    scheduler.add_job(sync, "interval", minutes=config.center.sync_interval_minutes, id="sync", **common)
    scheduler.add_job(
        send_heartbeat,
        "interval",
        args=[svc],
        seconds=config.center.heartbeat_interval_s,
        id="heartbeat",
        next_run_time=datetime.now(svc.tz),
        **common,
    )
    scheduler.add_job(
        purge, CronTrigger(hour=purge_at.hour, minute=purge_at.minute, timezone=svc.tz), id="spool_purge", **common
    )
    return scheduler
