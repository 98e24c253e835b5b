"""The store scrub: the catalogue compared with what the store really holds, a slice at a time.

Each run checks the next `check_count` archived recordings (in catalogue order, wrapping round, so the
whole archive is covered over successive runs) for presence and size, re-hashes `hash_count` of them
picked at random, and lists the next page of stored clip keys for objects the catalogue does not know.
A recording whose media is gone is marked missing; one whose bytes changed is marked altered. Both raise
an alert and an audit line; the run and what it found are kept for the operations page.
"""

from __future__ import annotations

import json
import logging
import os
import random
import secrets
import socket
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from center_platform.audit import trail as audit
from center_platform.db import job_lock
from center_platform.db.models import (
    ALTERED,
    ARCHIVED,
    MISSING,
    IngestUpload,
    Recording,
    StoreScrubRun,
    utcnow,
)
from center_platform.retention.events import MANIFEST_SUFFIX
from storage.object_store import ObjectStore, StorageError

log = logging.getLogger(__name__)

JOB_NAME = "store-scrub"
LEASE = timedelta(minutes=30)
CLIP_PREFIX = "clips/"
MAX_FINDINGS_KEPT = 200
MAX_TOKEN = 300  # the column's width; a longer token is not kept and the next run lists from the start


@dataclass(frozen=True)
class ScrubFinding:
    kind: str  # missing | altered | unknown
    clip_id: str
    object_key: str
    detail: str


@dataclass
class ScrubReport:
    ran: bool = True  # False: another center process holds the lease
    checked: int = 0
    hashed: int = 0
    listed: int = 0
    findings: list[ScrubFinding] = field(default_factory=list)

    def count(self, kind: str) -> int:
        return sum(1 for f in self.findings if f.kind == kind)


def _last_run(db: Session) -> StoreScrubRun | None:
    return db.execute(select(StoreScrubRun).order_by(StoreScrubRun.id.desc()).limit(1)).scalar_one_or_none()


def _next_slice(db: Session, after_id: int, count: int) -> list[Recording]:
    query = select(Recording).where(Recording.state == ARCHIVED).order_by(Recording.id).limit(count)
    rows = list(db.execute(query.where(Recording.id > after_id)).scalars())
    if len(rows) < count and after_id:
        # Wrapped round: start again from the beginning of the catalogue.
        seen = {r.id for r in rows}
        rows += [r for r in db.execute(query.limit(count - len(rows))).scalars() if r.id not in seen]
    return rows


def _random_picks(db: Session, count: int, rng: random.Random) -> list[Recording]:
    # Random ids looked up through the primary key: no full scan of a catalogue of millions.
    low, high = db.execute(select(func.min(Recording.id), func.max(Recording.id))).one()
    if low is None or count <= 0:
        return []
    picked: dict[int, Recording] = {}
    for _ in range(count * 3):
        if len(picked) >= count:
            break
        row = db.execute(
            select(Recording)
            .where(Recording.id >= rng.randint(low, high), Recording.state == ARCHIVED)
            .order_by(Recording.id)
            .limit(1)
        ).scalar_one_or_none()
        if row is not None:
            picked[row.id] = row
    return list(picked.values())


def _check_presence(store: ObjectStore, rec: Recording) -> ScrubFinding | None:
    info = store.find_version(rec.object_key, rec.version_id)
    if info is None:
        return ScrubFinding(MISSING, rec.clip_id, rec.object_key, "the stored version is gone")
    if info.size != rec.size:
        return ScrubFinding(ALTERED, rec.clip_id, rec.object_key, f"size {info.size}, catalogued {rec.size}")
    return None


def _check_hash(store: ObjectStore, rec: Recording) -> ScrubFinding | None:
    if store.find_version(rec.object_key, rec.version_id) is None:
        return ScrubFinding(MISSING, rec.clip_id, rec.object_key, "the stored version is gone")
    digest, size = store.sha256_hex(rec.object_key, rec.version_id)
    if digest != rec.sha256 or size != rec.size:
        return ScrubFinding(ALTERED, rec.clip_id, rec.object_key, f"SHA-256 {digest}, catalogued {rec.sha256}")
    return None


def _list_page(store: ObjectStore, token: str, limit: int) -> tuple[list[str], str]:
    """The next page of stored clip keys. By continuation token, kept between runs: SeaweedFS answers
    StartAfter wrongly in a versioned bucket. A token the store no longer accepts starts again."""
    if limit <= 0:
        return [], ""
    try:
        return store.list_page(CLIP_PREFIX, token, limit)
    except StorageError:
        if not token:
            raise
        log.warning("store scrub: the listing's continuation token was refused; starting from the first key")
        return store.list_page(CLIP_PREFIX, "", limit)


def _unknown_objects(db: Session, keys: list[str]) -> list[ScrubFinding]:
    clips = [k for k in keys if not k.endswith(MANIFEST_SUFFIX)]
    if not clips:
        return []
    known = set(db.execute(select(Recording.object_key).where(Recording.object_key.in_(clips))).scalars())
    # An upload in progress or in quarantine is known to the archive, only not catalogued.
    known |= set(db.execute(select(IngestUpload.object_key).where(IngestUpload.object_key.in_(clips))).scalars())
    return [ScrubFinding("unknown", "", k, "in the store but not in the catalogue") for k in clips if k not in known]


def run_scrub(
    sessions: sessionmaker[Session],
    store: ObjectStore,
    *,
    check_count: int = 500,
    hash_count: int = 5,
    list_count: int = 1000,
    holder: str = "",
    rng: random.Random | None = None,
    now: datetime | None = None,
    min_gap: timedelta = timedelta(0),
) -> ScrubReport:
    """One scrub pass, unless another center process runs one now or one started less than `min_gap` ago.

    Every center schedules the scrub on its own clock; the lease keeps two passes from overlapping and
    `min_gap` (the scheduler gives half its interval) keeps a second process from a second pass that round.
    """
    started = now or utcnow()
    holder = holder or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
    if not job_lock.acquire(sessions, JOB_NAME, holder, LEASE, started):
        return ScrubReport(ran=False)
    try:
        if min_gap > timedelta(0):
            with sessions() as db:
                last = _last_run(db)
            if last is not None and last.started_at > started - min_gap:
                return ScrubReport(ran=False)
        return _scrub(sessions, store, check_count, hash_count, list_count, rng or random.Random(), started)
    finally:
        job_lock.release(sessions, JOB_NAME, holder)


def _scrub(
    sessions: sessionmaker[Session],
    store: ObjectStore,
    check_count: int,
    hash_count: int,
    list_count: int,
    rng: random.Random,
    started: datetime,
) -> ScrubReport:
    report = ScrubReport()
    with sessions() as db:
        last = _last_run(db)
        after_id = last.last_recording_id if last else 0
        listing_token = last.last_store_key if last else ""
        checked = _next_slice(db, after_id, check_count)
        hashed = _random_picks(db, hash_count, rng)
        for rec in checked:
            if (finding := _check_presence(store, rec)) is not None:
                report.findings.append(finding)
        already = {f.clip_id for f in report.findings}
        for rec in hashed:
            if rec.clip_id not in already and (finding := _check_hash(store, rec)) is not None:
                report.findings.append(finding)
        report.checked, report.hashed = len(checked), len(hashed)
        keys, next_token = _list_page(store, listing_token, list_count)
        report.listed = len(keys)
        report.findings += _unknown_objects(db, keys)
        for f in report.findings:
            _raise(db, f)
        db.add(
            StoreScrubRun(
                started_at=started,
                finished_at=utcnow(),
                checked=report.checked,
                hashed=report.hashed,
                listed=report.listed,
                missing=report.count(MISSING),
                altered=report.count(ALTERED),
                unknown=report.count("unknown"),
                findings_json=json.dumps([asdict(f) for f in report.findings[:MAX_FINDINGS_KEPT]], ensure_ascii=False),
                last_recording_id=checked[-1].id if checked else 0,
                # A short page means the listing reached the end: the next run starts from the first key.
                # Where the next run's listing goes on; "" starts again from the first key.
                last_store_key=next_token if len(next_token) <= MAX_TOKEN else "",
            )
        )
        db.commit()
    return report


def _raise(db: Session, f: ScrubFinding) -> None:
    log.error("ALERT store scrub: %s %s (%s): %s", f.kind, f.clip_id or f.object_key, f.object_key, f.detail)
    if f.clip_id:
        db.execute(update(Recording).where(Recording.clip_id == f.clip_id).values(state=f.kind))
    audit.append(
        db, "store-scrub", f"store.{f.kind}", f.clip_id or f.object_key[:128], {"key": f.object_key, "detail": f.detail}
    )


def latest_runs(sessions: sessionmaker[Session], limit: int = 10) -> list[StoreScrubRun]:
    with sessions() as db:
        return list(db.execute(select(StoreScrubRun).order_by(StoreScrubRun.id.desc()).limit(limit)).scalars())


def run_json(run: StoreScrubRun) -> dict[str, object]:
    return {
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat(),
        "checked": run.checked,
        "hashed": run.hashed,
        "listed": run.listed,
        "missing": run.missing,
        "altered": run.altered,
        "unknown": run.unknown,
        "findings": run.findings,
    }
