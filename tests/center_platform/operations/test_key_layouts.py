"""New clips are stored grouped by product type, branch and day; clips stored before the grouping keep
their keys. Both are replayed from the key the catalogue holds and both are rebuilt from the store."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select

from center_platform.db.models import Base, Recording
from center_platform.ingest.object_keys import legacy_object_key, object_key, product_type_prefix
from center_platform.operations.rebuild import run_rebuild
from tests.center_platform.archive_rig import (  # noqa: F401
    BRANCH_CODE,
    OPEN_PRODUCT,
    ArchiveRig,
    archive_rig,
    clip_manifest,
)


def _key_of(rig: ArchiveRig, clip_id: str) -> str:
    with rig.sessions() as db:
        return db.execute(select(Recording.object_key).where(Recording.clip_id == clip_id)).scalar_one()


def _replayed(rig: ArchiveRig, clip_id: str) -> bytes:
    r = rig.login("compliance").get(f"/api/recordings/{clip_id}/media", headers={"Range": "bytes=0-99"})
    assert r.status_code == 206, r.get_json()
    return r.data


def test_both_layouts_are_served_and_rebuilt(archive_rig: ArchiveRig) -> None:
    rig = archive_rig
    day = datetime(2026, 5, 6, 2, 0, tzinfo=UTC)
    grouped_media = secrets.token_bytes(5000)
    grouped = rig.archive(grouped_media, started_at=day, product_code=OPEN_PRODUCT)
    assert _key_of(rig, grouped) == f"clips/OPEN/{BRANCH_CODE}/2026/05/06/{grouped}.mp4"

    # A clip archived before the grouping: signed, locked, at the branch's own folder.
    old_media = secrets.token_bytes(4000)
    old = clip_manifest(rig.key, old_media, started_at=day - timedelta(days=400))
    old_key = legacy_object_key(old)
    assert old_key == f"clips/{BRANCH_CODE}/{day - timedelta(days=400):%Y/%m/%d}/{old.clip_id}.mp4"
    until = datetime.now(UTC) + timedelta(seconds=60)
    media = rig.store.put_small(old_key, old_media, "video/mp4")
    manifest = rig.store.put_small(old_key + ".manifest.json", old.canonical_bytes(), "application/json")
    rig.store.set_retention(old_key, media.version_id, until)
    rig.store.set_retention(manifest.key, manifest.version_id, until)
    grouped_prefix = product_type_prefix("OPEN") + f"{BRANCH_CODE}/2026/05/06/{grouped}"
    report = run_rebuild(rig.sessions, rig.store, prefix=[old_key, grouped_prefix])
    assert report.rebuilt == 1 and report.already_present == 1 and not report.not_rebuilt, report.lines()
    assert _key_of(rig, old.clip_id) == old_key
    assert _replayed(rig, old.clip_id) == old_media[:100]
    assert _replayed(rig, grouped) == grouped_media[:100]

    # Both lost from the catalogue come back from the store, each at its own key.
    with rig.sessions() as db:
        ids = select(Recording.id).where(Recording.clip_id.in_([grouped, old.clip_id])).scalar_subquery()
        for table in reversed(Base.metadata.sorted_tables):  # every row hanging on them goes first
            for fk in table.foreign_keys:
                if fk.column.table.name == "recordings":
                    db.execute(delete(table).where(fk.parent.in_(ids)))
        db.execute(delete(Recording).where(Recording.clip_id.in_([grouped, old.clip_id])))
        db.commit()
    report = run_rebuild(rig.sessions, rig.store, prefix=[old_key, grouped_prefix])
    assert report.rebuilt == 2 and not report.not_rebuilt, report.lines()
    assert _key_of(rig, grouped).startswith("clips/OPEN/")
    assert _key_of(rig, old.clip_id) == old_key
    assert _replayed(rig, grouped) == grouped_media[:100]


def test_a_manifest_beside_another_clip_is_not_rebuilt(archive_rig: ArchiveRig) -> None:
    rig = archive_rig
    body = secrets.token_bytes(3000)
    m = clip_manifest(rig.key, body, started_at=datetime(2026, 5, 7, 3, 0, tzinfo=UTC))
    # The right folder, another clip's name.
    wrong = object_key(m, "FIXED").replace(m.clip_id, secrets.token_hex(16))
    until = datetime.now(UTC) + timedelta(seconds=60)
    media = rig.store.put_small(wrong, body, "video/mp4")
    rig.store.set_retention(wrong, media.version_id, until)
    rig.store.put_small(wrong + ".manifest.json", m.canonical_bytes(), "application/json")
    report = run_rebuild(rig.sessions, rig.store, prefix=wrong)
    assert [p.kind for p in report.not_rebuilt] == ["misplaced"]
