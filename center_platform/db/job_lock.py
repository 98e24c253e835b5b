"""One runner at a time for a scheduled job, across center processes: a lease row in `job_locks`.

A runner takes the lease by inserting the row, or by taking over an expired one in a single UPDATE
(the WHERE clause decides the race on SQLite and PostgreSQL alike). A holder that dies simply lets
its lease run out.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import CursorResult, Result, delete, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from center_platform.db.models import JobLock, utcnow


def acquire(
    sessions: sessionmaker[Session], name: str, holder: str, lease: timedelta, now: datetime | None = None
) -> bool:
    at = now or utcnow()
    with sessions() as db:
        taken = _rows_changed(
            db.execute(
                update(JobLock)
                .where(JobLock.name == name, (JobLock.expires_at < at) | (JobLock.holder == holder))
                .values(holder=holder, acquired_at=at, expires_at=at + lease)
            )
        )
        if taken == 1:
            db.commit()
            return True
        db.rollback()
        db.add(JobLock(name=name, holder=holder, acquired_at=at, expires_at=at + lease))
        try:
            db.commit()
            return True
        except IntegrityError:
            db.rollback()
            return False


def renew(sessions: sessionmaker[Session], name: str, holder: str, lease: timedelta) -> bool:
    """Extends a lease still held; False if another runner took it over (this one must stop)."""
    at = utcnow()
    with sessions() as db:
        kept = _rows_changed(
            db.execute(
                update(JobLock).where(JobLock.name == name, JobLock.holder == holder).values(expires_at=at + lease)
            )
        )
        db.commit()
        return kept == 1


def _rows_changed(result: Result[Any]) -> int:
    # Session.execute is typed for queries; an UPDATE answers with a CursorResult, which counts rows.
    assert isinstance(result, CursorResult)
    return int(result.rowcount)


def release(sessions: sessionmaker[Session], name: str, holder: str) -> None:
    with sessions() as db:
        db.execute(delete(JobLock).where(JobLock.name == name, JobLock.holder == holder))
        db.commit()
