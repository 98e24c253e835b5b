"""Automatic expiry: clips whose retain-until has passed and that hold no dispute are deleted from the
store, with one deletion certificate per clip in the audit trail.

The store decides: a version it refuses to delete (its COMPLIANCE lock or a legal hold still in
force) keeps the recording archived, raises an alert and is audited. Only what the store really
deleted is marked deleted.
"""

from __future__ import annotations

import logging
import os
import socket
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import exists, or_, select, update
from sqlalchemy.orm import Session, aliased, sessionmaker

from center_platform.audit.batch import AuditLine, append_many
from center_platform.db import job_lock
from center_platform.db.models import MISSING, Dispute, Recording, utcnow
from center_platform.retention.events import MANIFEST_SUFFIX
from storage.object_store import DeleteFailure, DeleteReport, ObjectStore, ObjectVersion

log = logging.getLogger(__name__)

JOB_NAME = "retention-expiry"
MAX_BATCH = 1000
# How long a dead runner keeps the others out; CENTER_EXPIRY_LEASE_S shortens it for a test of a crash.
LEASE = timedelta(seconds=int(os.environ.get("CENTER_EXPIRY_LEASE_S", "600")))
# A recording whose deletion has begun: the store may already have deleted it when its runner died.
# The next run finishes it and certifies it, instead of taking it for a clip that vanished.
EXPIRING = "expiring"
# A clip alone in its folder within a batch is listed by its own key; many together, by the folder.
FOLDER_LISTING_MIN = 20
DELETE_CHUNK = 250
DELETE_WORKERS = 8


@dataclass(frozen=True)
class DueClip:
    recording_id: int
    clip_id: str
    sha256: str
    size: int
    retain_until: datetime
    rule: str
    reason: str
    object_key: str
    version_id: str
    interrupted: bool = False  # a runner began deleting it and died


@dataclass(frozen=True)
class Refusal:
    clip_id: str
    problems: list[str]


@dataclass
class ExpiryReport:
    dry_run: bool
    ran: bool = True  # False: another runner holds the lock
    due: list[DueClip] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # due, but the media had vanished: no certificate
    batches: int = 0


def _due_query(now: datetime, after_id: int, limit: int):  # type: ignore[no-untyped-def]
    open_dispute = exists().where(Dispute.recording_id == Recording.id, Dispute.closed_at.is_(None))
    # Retention follows the sale (retention.sale_alignment): while another clip of the same sale is
    # still kept or held, none of its clips goes, even one archived before the dates were aligned.
    sibling = aliased(Recording)
    sale_still_kept = exists().where(
        sibling.branch_id == Recording.branch_id,
        sibling.business_serial == Recording.business_serial,
        sibling.id != Recording.id,
        sibling.state == "archived",
        or_(sibling.retain_until >= now, sibling.legal_hold.is_(True)),
    )
    return (
        select(Recording)
        .where(
            Recording.state.in_(("archived", EXPIRING)),
            Recording.retain_until < now,
            Recording.legal_hold.is_(False),
            ~open_dispute,
            ~sale_still_kept,
            Recording.id > after_id,
        )
        .order_by(Recording.id)
        .limit(limit)
    )


def due_clips(session: Session, now: datetime, after_id: int = 0, limit: int = MAX_BATCH) -> list[DueClip]:
    return [
        DueClip(
            r.id,
            r.clip_id,
            r.sha256,
            r.size,
            r.retain_until,
            r.retention_rule,
            r.retention_reason,
            r.object_key,
            r.version_id,
            r.state == EXPIRING,
        )
        for r in session.execute(_due_query(now, after_id, limit)).scalars()
    ]


def stored_versions(store: ObjectStore, clips: list[DueClip]) -> dict[str, list[ObjectVersion]]:
    """Every stored version of each clip and of its manifest, by clip id, with as few listings as sensible."""
    wanted: dict[str, str] = {}
    for c in clips:
        wanted[c.object_key] = c.clip_id
        wanted[c.object_key + MANIFEST_SUFFIX] = c.clip_id
    by_folder: dict[str, list[DueClip]] = defaultdict(list)
    for c in clips:
        by_folder[c.object_key.rsplit("/", 1)[0] + "/"].append(c)
    prefixes: list[str] = []
    for folder, members in by_folder.items():
        prefixes.extend([folder] if len(members) >= FOLDER_LISTING_MIN else [m.object_key for m in members])
    out: dict[str, list[ObjectVersion]] = defaultdict(list)
    with ThreadPoolExecutor(max_workers=8) as pool:
        for listed in pool.map(store.list_versions, prefixes):
            for v in listed:
                owner = wanted.get(v.key)
                if owner is not None:
                    out[owner].append(v)
    return out


def _certificate(c: DueClip, gone: list[ObjectVersion], deleted_at: datetime, actor: str) -> dict[str, object]:
    return {
        "certificate": "deletion",
        "clip_id": c.clip_id,
        "sha256": c.sha256,
        "size": c.size,
        "retain_until": c.retain_until.isoformat(),
        "rule": c.rule,
        "reason": c.reason,
        "deleted_at": deleted_at.isoformat(),
        "deleted_by": actor,
        "object_key": c.object_key,
        "versions": [{"key": v.key, "version_id": v.version_id} for v in gone],
    }


def delete_in_parallel(store: ObjectStore, versions: list[ObjectVersion]) -> DeleteReport:
    # The store works through one batch delete at a time; several smaller ones keep it busy.
    chunks = [versions[i : i + DELETE_CHUNK] for i in range(0, len(versions), DELETE_CHUNK)]
    deleted: list[ObjectVersion] = []
    failed: list[DeleteFailure] = []
    with ThreadPoolExecutor(max_workers=DELETE_WORKERS) as pool:
        for part in pool.map(store.delete_versions, chunks):
            deleted.extend(part.deleted)
            failed.extend(part.failed)
    return DeleteReport(deleted=deleted, failed=failed)


def delete_clips(session: Session, store: ObjectStore, clips: list[DueClip], actor: str, report: ExpiryReport) -> None:
    """Deletes the given clips' versions; certificates for what went, alerts for what the store kept."""
    if not clips:
        return
    versions = stored_versions(store, clips)
    # Nobody deleted these at their time: certifying a deletion would hide a loss of evidence, and what
    # is left of them (the manifest) stays for whoever investigates.
    vanished = {
        c.clip_id
        for c in clips
        if not c.interrupted
        and not any(v.key == c.object_key and v.version_id == c.version_id for v in versions.get(c.clip_id, []))
    }
    # The intent first: a runner that dies after the store deleted leaves its clips marked, not lost.
    session.execute(
        update(Recording)
        .where(Recording.id.in_([c.recording_id for c in clips if c.clip_id not in vanished]))
        .values(state=EXPIRING)
    )
    session.commit()
    result = delete_in_parallel(
        store, [v for c in clips if c.clip_id not in vanished for v in versions.get(c.clip_id, [])]
    )
    deleted = {(v.key, v.version_id) for v in result.deleted}
    failures: dict[str, list[str]] = defaultdict(list)
    for f in result.failed:
        failures[f.key].append(f"{f.key} version {f.version_id}: {f.code} {f.message}".strip())
    deleted_at = utcnow()
    gone_ids: list[int] = []
    missing_ids: list[int] = []
    kept_ids: list[int] = []
    lines: list[AuditLine] = []
    for c in clips:
        mine = versions.get(c.clip_id, [])
        if c.clip_id in vanished:
            missing_ids.append(c.recording_id)
            log.error("ALERT expiry: clip %s is due but its media is no longer in the store", c.clip_id)
            lines.append(
                AuditLine(
                    actor,
                    "retention.media_missing",
                    c.clip_id,
                    {"object_key": c.object_key, "version_id": c.version_id, "sha256": c.sha256},
                )
            )
            report.missing.append(c.clip_id)
            continue
        gone = [v for v in mine if (v.key, v.version_id) in deleted]
        problems = failures.get(c.object_key, []) + failures.get(c.object_key + MANIFEST_SUFFIX, [])
        media_left = any(v.key == c.object_key and (v.key, v.version_id) not in deleted for v in mine)
        if media_left:
            report.refused.append(Refusal(c.clip_id, problems or ["the store kept the clip"]))
            kept_ids.append(c.recording_id)
            log.error(
                "ALERT expiry: the store refused to delete clip %s (retain-until %s): %s",
                c.clip_id,
                c.retain_until.isoformat(),
                "; ".join(problems),
            )
            lines.append(
                AuditLine(
                    actor,
                    "retention.delete_refused",
                    c.clip_id,
                    {"retain_until": c.retain_until.isoformat(), "problems": problems},
                )
            )
            continue
        gone_ids.append(c.recording_id)
        if c.interrupted and not any(v.key == c.object_key for v in gone):
            gone.append(ObjectVersion(c.object_key, c.version_id))  # deleted by the runner that died
        cert = _certificate(c, gone, deleted_at, actor)
        if c.interrupted:
            cert["completed_after_interrupted_run"] = True
        if problems:
            cert["left_in_store"] = problems
            log.error("ALERT expiry: clip %s deleted but the store kept: %s", c.clip_id, "; ".join(problems))
        lines.append(AuditLine(actor, "retention.deleted", c.clip_id, cert))
        report.deleted.append(c.clip_id)
    if gone_ids:
        session.execute(
            update(Recording).where(Recording.id.in_(gone_ids)).values(state="deleted", deleted_at=deleted_at)
        )
    if missing_ids:
        session.execute(update(Recording).where(Recording.id.in_(missing_ids)).values(state=MISSING))
    if kept_ids:
        session.execute(update(Recording).where(Recording.id.in_(kept_ids)).values(state="archived"))
    append_many(session, lines)
    session.commit()


def run_expiry(
    sessions: sessionmaker[Session],
    store: ObjectStore,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    limit: int | None = None,
    batch_size: int = MAX_BATCH,
    actor: str = "expiry",
) -> ExpiryReport:
    """One pass over everything due at `now` (at most `limit` clips). Skips if another runner holds the lock."""
    if not 1 <= batch_size <= MAX_BATCH:
        raise ValueError(f"batch_size must be 1..{MAX_BATCH}, got {batch_size}")
    at = now or utcnow()
    report = ExpiryReport(dry_run=dry_run)
    remaining = limit if limit is not None else None
    if dry_run:
        with sessions() as db:
            report.due = due_clips(db, at, 0, remaining if remaining is not None else 10**9)
        return report
    holder = f"{socket.gethostname()}:{os.getpid()}:{id(report)}"
    if not job_lock.acquire(sessions, JOB_NAME, holder, LEASE, at):
        log.info("expiry skipped: another runner holds the lock")
        report.ran = False
        return report
    try:
        after_id = 0
        while remaining is None or remaining > 0:
            size = batch_size if remaining is None else min(batch_size, remaining)
            with sessions() as db:
                batch = due_clips(db, at, after_id, size)
                if not batch:
                    break
                delete_clips(db, store, batch, actor, report)
            report.due.extend(batch)
            report.batches += 1
            after_id = batch[-1].recording_id
            if remaining is not None:
                remaining -= len(batch)
            if not job_lock.renew(sessions, JOB_NAME, holder, LEASE):
                log.error("ALERT expiry stopped: its lock was taken over by another runner")
                break
    finally:
        job_lock.release(sessions, JOB_NAME, holder)
    log.info(
        "expiry: %d deleted, %d refused by the store, %d batches",
        len(report.deleted),
        len(report.refused),
        report.batches,
    )
    return report
