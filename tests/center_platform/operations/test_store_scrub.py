"""The store scrub finds what the catalogue promises and the store no longer holds, and what the store
holds that the catalogue does not know; it covers the whole archive over successive runs."""

from __future__ import annotations

import random
import secrets
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from center_platform.db import job_lock
from center_platform.db.models import AuditEvent, Recording
from center_platform.operations.store_scrub import JOB_NAME, latest_runs, run_scrub
from tests.center_platform.archive_rig import FIXED_PRODUCT, ArchiveRig, archive_rig  # noqa: F401
from tests.center_platform.retention_rig import recording, stored_recording

PAST = datetime.now(UTC) - timedelta(days=30)


def _actions(rig: ArchiveRig, target: str) -> list[str]:
    with rig.sessions() as db:
        return list(db.execute(select(AuditEvent.action).where(AuditEvent.target == target)).scalars())


def test_scrub_marks_missing_and_altered_clips_and_names_unknown_objects(archive_rig: ArchiveRig) -> None:
    rig = archive_rig
    started = time.monotonic()
    healthy = rig.archive()
    lost = stored_recording(rig, started_at=PAST, product_code=FIXED_PRODUCT, lock_s=1.0)
    changed = rig.archive()
    # The bytes in the store no longer match the hash the archive verified at ingest.
    with rig.sessions() as db:
        db.execute(update(Recording).where(Recording.clip_id == changed).values(sha256="0" * 64))
        db.commit()
    time.sleep(max(0.0, started + 2.0 - time.monotonic()))
    rec = recording(rig, lost)
    rig.store.delete_version(rec.object_key, rec.version_id)
    stray_key = f"clips/ZZZ/{secrets.token_hex(8)}.mp4"
    rig.store.put_small(stray_key, b"not catalogued", "video/mp4")

    # Everything checked and every clip re-hashed: the run is small enough here.
    report = run_scrub(rig.sessions, rig.store, check_count=50, hash_count=50, list_count=10_000)
    found = {(f.kind, f.clip_id or f.object_key) for f in report.findings}
    assert ("missing", lost) in found and ("altered", changed) in found and ("unknown", stray_key) in found
    assert not any(healthy in (f.clip_id, f.object_key) for f in report.findings)
    assert recording(rig, lost).state == "missing" and recording(rig, changed).state == "altered"
    assert recording(rig, healthy).state == "archived"
    assert _actions(rig, lost)[-1] == "store.missing" and _actions(rig, changed)[-1] == "store.altered"
    [run] = latest_runs(rig.sessions)
    assert (run.missing, run.altered) == (1, 1) and run.unknown >= 1
    # Operations sees it: the API and the page name what was found.
    ops = rig.login("sysadmin")
    [shown] = ops.get("/api/operations/store-scrub").get_json()["runs"]
    assert (shown["missing"], shown["altered"]) == (1, 1)
    assert {(f["kind"], f["clip_id"]) for f in shown["findings"]} >= {("missing", lost), ("altered", changed)}
    page = ops.get("/operations/uploads").get_data(as_text=True)
    assert 'data-scrub-missing="1"' in page and f"missing {lost}" in page


def test_successive_runs_cover_the_whole_catalogue_and_wrap_round(archive_rig: ArchiveRig) -> None:
    rig = archive_rig
    clips = [rig.archive() for _ in range(5)]
    with rig.sessions() as db:
        ids = dict(db.execute(select(Recording.clip_id, Recording.id)).tuples().all())
    covered: list[int] = []
    for _ in range(3):
        # No store listing here: the test store's bucket also holds other tests' archives.
        report = run_scrub(rig.sessions, rig.store, check_count=2, hash_count=0, list_count=0, rng=random.Random(1))
        assert report.ran and report.checked == 2 and report.findings == []
        covered.append(latest_runs(rig.sessions, 1)[0].last_recording_id)
    assert covered == [ids[clips[1]], ids[clips[3]], ids[clips[0]]]


def test_one_scrub_at_a_time_across_center_processes(archive_rig: ArchiveRig) -> None:
    assert job_lock.acquire(archive_rig.sessions, JOB_NAME, "other-center", timedelta(minutes=5))
    assert run_scrub(archive_rig.sessions, archive_rig.store).ran is False
    assert latest_runs(archive_rig.sessions) == []
