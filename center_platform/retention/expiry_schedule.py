"""The daily expiry run inside `serve`. Every center process may schedule it; the job lock lets one run."""

from __future__ import annotations

import logging
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from center_platform.retention.expiry import run_expiry
from center_platform.services import CenterServices

log = logging.getLogger(__name__)


def _run(svc: CenterServices) -> None:
    try:
        run_expiry(svc.sessions, svc.store, batch_size=svc.config.expiry.batch_size)
    except Exception:  # a failed night must not stop the scheduler; the next run picks up what is left
        log.exception("ALERT scheduled expiry failed")


def start_expiry_scheduler(svc: CenterServices) -> BackgroundScheduler | None:
    cfg = svc.config.expiry
    if not cfg.enabled:
        log.info("automatic expiry disabled in configuration")
        return None
    hour, minute = (int(x) for x in cfg.run_at.split(":"))
    tz = ZoneInfo(svc.config.server.timezone)
    scheduler = BackgroundScheduler(timezone=tz)
    scheduler.add_job(
        _run,
        CronTrigger(hour=hour, minute=minute, timezone=tz),
        args=[svc],
        id="retention-expiry",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=3600,
    )
    scheduler.start()
    log.info("automatic expiry daily at %s %s", cfg.run_at, tz.key)
    return scheduler
