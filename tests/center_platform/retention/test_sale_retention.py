"""Retention follows the sale: a clip of a sale (same branch and serial) is kept as long as the
longest-kept clip of that sale, in the catalogue and in the store's lock, and expiry takes none of a
sale's clips while another is still kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from center_platform.db.models import Recording
from center_platform.retention.disputes import close_dispute, open_dispute
from center_platform.retention.expiry import run_expiry
from tests.center_platform.archive.test_supplementary_approval import supplementary_clip
from tests.center_platform.archive_rig import FIXED_PRODUCT, ArchiveRig, archive_rig  # noqa: F401
from tests.center_platform.retention_rig import recording, stored_recording


def _locked_until(rig: ArchiveRig, clip_id: str) -> tuple[datetime | None, datetime | None]:
    rec = recording(rig, clip_id)
    media = rig.store.head(rec.object_key, rec.version_id).retain_until
    manifests = rig.store.list_versions(rec.object_key + ".manifest.json")
    manifest = rig.store.head(manifests[0].key, manifests[0].version_id).retain_until
    return media, manifest


def test_a_later_clip_of_the_sale_extends_the_earlier_ones(archive_rig: ArchiveRig) -> None:
    rig = archive_rig
    sold = datetime.now(UTC) - timedelta(days=60)
    first = rig.archive(business_serial="SN-SALE-1", started_at=sold)
    other_sale = rig.archive(business_serial="SN-SALE-2", started_at=sold)
    # Recorded a month after the sale: its own rule keeps it a month longer.
    later = supplementary_clip(rig, "SN-SALE-1", sale_at=sold, recorded_at=sold + timedelta(days=30))
    a, b = recording(rig, first), recording(rig, later)
    assert a.retain_until == b.retain_until > recording(rig, other_sale).retain_until
    assert f"kept as long as clip {later}" in a.retention_reason
    assert _locked_until(rig, first) == (b.retain_until, b.retain_until)

    # A dispute on the later clip, settled in a year, keeps it two years from then; the first follows,
    # in the store too.
    with rig.sessions() as db:
        opened = open_dispute(db, rig.store, later, "CASE-9", "complaint", "compliance")
        settled = datetime.now(UTC) + timedelta(days=400)
        close_dispute(db, rig.store, later, opened.id, "settled", "compliance", now=settled)
        db.commit()
    moved = recording(rig, later).retain_until
    assert moved > b.retain_until
    assert recording(rig, first).retain_until == moved
    assert _locked_until(rig, first)[0] == moved
    assert recording(rig, other_sale).retain_until < moved


def test_expiry_keeps_a_sales_clip_while_another_is_kept(archive_rig: ArchiveRig) -> None:
    rig = archive_rig
    past = datetime.now(UTC) - timedelta(days=900)
    short = stored_recording(rig, started_at=past, product_code=FIXED_PRODUCT, lock_s=60, catalogue_retain_s=1)
    long = stored_recording(rig, started_at=past, product_code=FIXED_PRODUCT, lock_s=60, catalogue_retain_s=120)
    alone = stored_recording(rig, started_at=past, product_code=FIXED_PRODUCT, lock_s=60, catalogue_retain_s=1)
    with rig.sessions() as db:
        db.execute(update(Recording).where(Recording.clip_id.in_([short, long])).values(business_serial="SN-BOTH"))
        db.commit()
    soon = datetime.now(UTC) + timedelta(seconds=30)
    due = {c.clip_id for c in run_expiry(rig.sessions, rig.store, now=soon, dry_run=True).due}
    assert alone in due and short not in due and long not in due
    later = datetime.now(UTC) + timedelta(seconds=300)
    due = {c.clip_id for c in run_expiry(rig.sessions, rig.store, now=later, dry_run=True).due}
    assert {short, long, alone} <= due
