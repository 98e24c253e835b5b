"""Expiry deletes exactly the clips that are due, with a certificate each; locked clips cannot be deleted
through the store or the API."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from center_platform.audit import trail as audit
from center_platform.db import job_lock
from center_platform.db.models import AuditEvent
from center_platform.retention.disputes import open_dispute
from center_platform.retention.expiry import JOB_NAME, run_expiry
from storage.object_store import StorageError
from tests.center_platform.archive_rig import FIXED_PRODUCT, ArchiveRig, archive_rig  # noqa: F401
from tests.center_platform.retention_rig import recording, stored_recording

LOCK_S = 3.0


def stored(rig: ArchiveRig, key: str) -> list[str]:
    return [v.version_id for v in rig.store.list_versions(key)]


def wait_for_locks(started: float) -> datetime:
    left = started + LOCK_S + 1.0 - time.monotonic()
    if left > 0:
        time.sleep(left)
    return datetime.now(UTC)


def test_expiry_deletes_exactly_the_due_clips_and_certifies_each(archive_rig: ArchiveRig) -> None:
    rig = archive_rig
    started = time.monotonic()
    past = datetime.now(UTC) - timedelta(days=900)
    due = [stored_recording(rig, started_at=past, product_code=FIXED_PRODUCT, lock_s=LOCK_S) for _ in range(3)]
    disputed = stored_recording(rig, started_at=past, product_code=FIXED_PRODUCT, lock_s=LOCK_S)
    # the catalogue says due, but the store's lock runs for another minute: the store has the last word
    still_locked = stored_recording(
        rig, started_at=past, product_code=FIXED_PRODUCT, lock_s=60, catalogue_retain_s=LOCK_S
    )
    not_due = rig.archive()  # through the real upload: retained for years
    with rig.sessions() as db:
        open_dispute(db, rig.store, disputed, "CASE-7", "complaint", "compliance")
        db.commit()
    now = wait_for_locks(started)

    dry = run_expiry(rig.sessions, rig.store, now=now, dry_run=True)
    assert sorted(c.clip_id for c in dry.due) == sorted(due + [still_locked])
    assert all(recording(rig, c).state == "archived" for c in due)

    # another runner holds the lock: this one does nothing
    assert job_lock.acquire(rig.sessions, JOB_NAME, "other-runner", timedelta(minutes=5))
    skipped = run_expiry(rig.sessions, rig.store, now=now)
    assert not skipped.ran and skipped.deleted == []
    assert all(stored(rig, recording(rig, c).object_key) for c in due)
    job_lock.release(rig.sessions, JOB_NAME, "other-runner")

    report = run_expiry(rig.sessions, rig.store, now=now, batch_size=2)
    assert sorted(report.deleted) == sorted(due)
    assert [r.clip_id for r in report.refused] == [still_locked]
    assert report.batches == 2

    for clip_id in due:
        rec = recording(rig, clip_id)
        assert rec.state == "deleted" and rec.deleted_at is not None
        assert stored(rig, rec.object_key) == []  # clip and manifest, every version
    for clip_id in (disputed, still_locked, not_due):
        rec = recording(rig, clip_id)
        assert rec.state == "archived"
        assert rig.store.head(rec.object_key, rec.version_id).size == rec.size

    with rig.sessions() as db:
        certs = {
            e.target: json.loads(e.detail)
            for e in db.execute(select(AuditEvent).where(AuditEvent.action == "retention.deleted")).scalars()
        }
        assert sorted(certs) == sorted(due)
        for clip_id, cert in certs.items():
            rec = recording(rig, clip_id)
            assert cert["sha256"] == rec.sha256 and cert["retain_until"] == rec.retain_until.isoformat()
            assert cert["rule"] == "fixed_term" and cert["deleted_at"] == rec.deleted_at.isoformat()
            assert {v["key"] for v in cert["versions"]} == {rec.object_key, rec.object_key + ".manifest.json"}
        refused = db.execute(select(AuditEvent).where(AuditEvent.action == "retention.delete_refused")).scalar_one()
        assert refused.target == still_locked
        assert audit.verify_chain(db) == []

    # a second pass finds nothing more to do
    again = run_expiry(rig.sessions, rig.store, now=now)
    assert again.deleted == [] and [r.clip_id for r in again.refused] == [still_locked]


def test_an_expired_lease_is_taken_over(archive_rig: ArchiveRig) -> None:
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    assert job_lock.acquire(archive_rig.sessions, JOB_NAME, "crashed-runner", timedelta(minutes=10), now=long_ago)
    assert not job_lock.acquire(
        archive_rig.sessions, JOB_NAME, "second", timedelta(minutes=10), now=long_ago + timedelta(minutes=5)
    )
    assert run_expiry(archive_rig.sessions, archive_rig.store).ran


def test_a_locked_clip_cannot_be_deleted_through_the_store_or_the_api(archive_rig: ArchiveRig) -> None:
    rig = archive_rig
    clip_id = rig.archive()
    rec = recording(rig, clip_id)

    with pytest.raises(StorageError):
        rig.store.delete_version(rec.object_key, rec.version_id)
    assert rig.store.head(rec.object_key, rec.version_id).size == rec.size

    admin = rig.login("sysadmin")
    r = admin.delete(f"/api/admin/recordings/{clip_id}")
    assert r.status_code == 409
    assert "retained until" in r.get_json()["error"] and r.get_json()["retain_until"] == rec.retain_until.isoformat()
    assert rig.login("compliance").delete(f"/api/admin/recordings/{clip_id}").status_code == 403
    assert recording(rig, clip_id).state == "archived"
    assert rig.store.head(rec.object_key, rec.version_id).size == rec.size

    # once retention has run out, the same request deletes it with a certificate
    started = time.monotonic()
    expiring = stored_recording(
        rig, started_at=datetime.now(UTC) - timedelta(days=900), product_code=FIXED_PRODUCT, lock_s=LOCK_S
    )
    wait_for_locks(started)
    r = admin.delete(f"/api/admin/recordings/{expiring}")
    assert r.status_code == 200, r.get_json()
    gone = recording(rig, expiring)
    assert gone.state == "deleted" and stored(rig, gone.object_key) == []
    with rig.sessions() as db:
        cert = db.execute(
            select(AuditEvent).where(AuditEvent.action == "retention.deleted", AuditEvent.target == expiring)
        ).scalar_one()
        assert cert.actor == "sysadmin"


def test_a_clip_that_vanished_from_the_store_is_never_certified_as_deleted(archive_rig: ArchiveRig) -> None:
    rig = archive_rig
    started = time.monotonic()
    past = datetime.now(UTC) - timedelta(days=900)
    vanished = stored_recording(rig, started_at=past, product_code=FIXED_PRODUCT, lock_s=1.0)
    kept = stored_recording(rig, started_at=past, product_code=FIXED_PRODUCT, lock_s=1.0)
    now = wait_for_locks(started)
    # Lost outside the archive's control (a disk, an operator): the media version is gone before its time.
    rec = recording(rig, vanished)
    rig.store.delete_version(rec.object_key, rec.version_id)

    report = run_expiry(rig.sessions, rig.store, now=now)
    assert report.missing == [vanished] and report.deleted == [kept]
    assert recording(rig, vanished).state == "missing" and recording(rig, kept).state == "deleted"
    with rig.sessions() as db:
        lines = db.execute(select(AuditEvent).where(AuditEvent.target == vanished)).scalars().all()
    assert [e.action for e in lines] == ["retention.media_missing"]
    # Its manifest stays in the store for whoever investigates the loss.
    assert stored(rig, rec.object_key + ".manifest.json")
