"""The center's background jobs inside `serve`: the daily expiry, the audit trail's checkpoints, the
store scrub and the media analysis of archived clips.

Every center process may schedule them: expiry, scrub, checkpoint and quality each take a database lease so
that one runs at a time; the scrub also skips a round another process has just done, and a checkpoint
of a head already anchored is not written again.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from datetime import timedelta
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from center_platform.archive.clip_quality import quality_work_dir, run_quality_checks
from center_platform.audit.anchor import write_checkpoint
from center_platform.db import job_lock
from center_platform.operations.alert_watch import watch_round
from center_platform.operations.store_scrub import run_scrub
from center_platform.reconciliation.runner import run_nightly
from center_platform.retention.expiry import run_expiry
from center_platform.services import CenterServices

log = logging.getLogger(__name__)

CHECKPOINT_JOB = "audit-checkpoint"
CHECKPOINT_LEASE = timedelta(minutes=5)


def _expire(svc: CenterServices) -> None:
    try:
        run_expiry(svc.sessions, svc.store, batch_size=svc.config.expiry.batch_size)
    except Exception:  # a failed night must not stop the scheduler; the next run picks up what is left
        log.exception("ALERT scheduled expiry failed")


def anchor_audit_trail(svc: CenterServices) -> None:
    """One checkpoint of the head however many centers anchor at once: the lease makes the look for an
    existing checkpoint and the write one step, so a second writer of the same head finds the first's."""
    retention = timedelta(days=366 * svc.config.audit.checkpoint_retention_years)
    holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
    try:
        if not job_lock.acquire(svc.sessions, CHECKPOINT_JOB, holder, CHECKPOINT_LEASE):
            return  # another center is anchoring this head now
        try:
            with svc.sessions() as db:
                write_checkpoint(db, svc.store, svc.config.audit.checkpoint_prefix, svc.config.audit_key(), retention)
        finally:
            job_lock.release(svc.sessions, CHECKPOINT_JOB, holder)
    except Exception:  # the store may be down; the next interval anchors the head it finds then
        log.exception("ALERT audit checkpoint could not be written")


def scrub_store(svc: CenterServices) -> None:
    cfg = svc.config.scrub
    try:
        run_scrub(
            svc.sessions,
            svc.store,
            check_count=cfg.check_count,
            hash_count=cfg.hash_count,
            list_count=cfg.list_count,
            min_gap=timedelta(minutes=cfg.interval_minutes) / 2,
        )
    except Exception:  # the store may be down; the next run starts where this one would have
        log.exception("ALERT store scrub failed")


def check_clip_quality(svc: CenterServices) -> None:
    try:
        run_quality_checks(svc.sessions, svc.store, svc.config.quality, quality_work_dir(svc.config))
    except Exception:  # the store or database may be down; the clips stay waiting for the next run
        log.exception("ALERT quality check run failed")


def start_center_scheduler(svc: CenterServices) -> BackgroundScheduler:
    tz = ZoneInfo(svc.config.server.timezone)
    scheduler = BackgroundScheduler(timezone=tz)
    common = {"max_instances": 1, "coalesce": True}
    expiry = svc.config.expiry
    if expiry.enabled:
        hour, minute = (int(x) for x in expiry.run_at.split(":"))
        scheduler.add_job(
            _expire,
            CronTrigger(hour=hour, minute=minute, timezone=tz),
            args=[svc],
            id="retention-expiry",
            misfire_grace_time=3600,
            **common,
        )
        log.info("automatic expiry daily at %s %s", expiry.run_at, tz.key)
    else:
        log.info("automatic expiry disabled in configuration")
    scheduler.add_job(
        anchor_audit_trail,
        "interval",
        minutes=svc.config.audit.checkpoint_interval_minutes,
        args=[svc],
        id="audit-checkpoint",
        **common,
    )
    recon = svc.config.reconciliation
    if recon.enabled:
        hour, minute = (int(x) for x in recon.run_at.split(":"))
        scheduler.add_job(
            run_nightly,
            CronTrigger(hour=hour, minute=minute, timezone=tz),
            args=[svc.sessions, recon, svc.config.server.timezone],
            id="reconciliation",
            misfire_grace_time=3600,
            **common,
        )
    if svc.config.scrub.enabled:
        scheduler.add_job(
            scrub_store, "interval", minutes=svc.config.scrub.interval_minutes, args=[svc], id="store-scrub", **common
        )
    if svc.config.quality.enabled:
        scheduler.add_job(
            check_clip_quality,
            "interval",
            minutes=svc.config.quality.interval_minutes,
            args=[svc],
            id="clip-quality",
            **common,
        )
    scheduler.add_job(
        watch_round,
        "interval",
        seconds=svc.config.alerts.sweep_interval_s,
        args=[svc.sessions, svc.config.alerts],
        id="alert-watch",
        **common,
    )
    scheduler.start()
    return scheduler
