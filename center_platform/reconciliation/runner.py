"""Running reconciliation: nightly from the scheduler, on demand from the UI, the API and the CLI.

Whoever starts it, one run at a time across center processes (the `reconciliation` job lease), since
two runs of one day would replace each other's rows halfway.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from center_platform.config import ReconciliationSection
from center_platform.db import job_lock
from center_platform.reconciliation.matching import MatchSettings, RunSummary, reconcile_day
from center_platform.reports import rollups
from storage.database import utcnow

log = logging.getLogger(__name__)
LOCK_NAME = "reconciliation"
LEASE = timedelta(minutes=30)
MAX_DAYS = 31


class ReconciliationBusy(RuntimeError):
    pass


@dataclass(frozen=True)
class RunRequest:
    days: tuple[date, ...]
    actor: str


def settings_of(section: ReconciliationSection) -> MatchSettings:
    return MatchSettings(
        match_window=timedelta(minutes=section.match_window_minutes),
        late_after=timedelta(minutes=section.late_after_minutes),
    )


def run_days(sessions: sessionmaker[Session], req: RunRequest, settings: MatchSettings) -> list[RunSummary]:
    """Reconciles each day in turn under the lease; ReconciliationBusy if another run holds it."""
    if not 1 <= len(req.days) <= MAX_DAYS:
        raise ValueError(f"between 1 and {MAX_DAYS} days at a time")
    holder = f"{socket.gethostname()}:{os.getpid()}:{id(req)}"
    if not job_lock.acquire(sessions, LOCK_NAME, holder, LEASE):
        raise ReconciliationBusy("另一次对账正在进行 / another reconciliation run is in progress")
    try:
        out = []
        for day in req.days:
            with sessions() as db:
                out.append(reconcile_day(db, day, settings, req.actor))
            job_lock.renew(sessions, LOCK_NAME, holder, LEASE)
        rollups.refresh_stale_months(sessions)
        return out
    finally:
        job_lock.release(sessions, LOCK_NAME, holder)


def nightly_days(section: ReconciliationSection, tz: str, now: datetime | None = None) -> tuple[date, ...]:
    """Yesterday and the days before it, oldest first, in the center's time zone."""
    today = (now or utcnow()).astimezone(ZoneInfo(tz)).date()
    return tuple(today - timedelta(days=n) for n in range(section.days_back, 0, -1))


def run_nightly(sessions: sessionmaker[Session], section: ReconciliationSection, tz: str) -> None:
    try:
        for s in run_days(sessions, RunRequest(nightly_days(section, tz), "scheduler"), settings_of(section)):
            log.info("reconciled %s: %s", s.day, s.counts)
    except ReconciliationBusy:
        log.info("nightly reconciliation skipped: another run holds the lock")
    except Exception:  # a failed night must not stop the scheduler; the next night covers the same days
        log.exception("ALERT nightly reconciliation failed")
