"""A branch's signing keys are kept as versions: clips recorded under a replaced key still verify at
ingest and in their evidence package, and no replaced key is ever deleted."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, select

from center_platform.db.models import Branch, BranchSigningKey, ReplayIndex
from storage.signing import SigningKey
from tests.center_platform.admin.test_four_eyes import SECOND_ADMIN, _second_admin
from tests.center_platform.archive.test_evidence_export import export_zip, run_verify, unzip
from tests.center_platform.archive_rig import (  # noqa: F401
    BRANCH_CODE,
    ArchiveRig,
    archive_rig,
    clip_manifest,
    signed_branch_request,
    upload_clip,
)


def _swap_key(rig: ArchiveRig, new_key: SigningKey) -> dict[str, object]:
    _second_admin(rig)
    r = rig.login("sysadmin").patch(
        f"/api/admin/branches/{BRANCH_CODE}", json={"signing_public_key": new_key.public_key_b64}
    )
    assert r.status_code == 202, r.get_json()
    change = r.get_json()["pending"]
    r = rig.login(SECOND_ADMIN).post(f"/api/admin/pending-changes/{change['id']}/approve")
    assert r.status_code == 200, r.get_json()
    return change


def test_clips_recorded_under_a_replaced_key_still_verify(archive_rig: ArchiveRig, tmp_path: Path) -> None:
    old_key = archive_rig.key
    client = archive_rig.branch_client()
    recorded_before = datetime.now(UTC) - timedelta(hours=2)
    # One clip archived under the old key, one recorded under it but still on its way in.
    archived_old = archive_rig.archive(started_at=recorded_before)
    in_flight_media = b"in flight " * 300
    in_flight = clip_manifest(old_key, in_flight_media, started_at=recorded_before + timedelta(minutes=10))

    new_key = SigningKey.generate()
    _swap_key(archive_rig, new_key)

    # Verified against the key its key id names, valid when the clip was recorded.
    assert upload_clip(client, in_flight, in_flight_media)["state"] == "verified"
    media = b"new key " * 300
    signed_new = clip_manifest(new_key, media, started_at=datetime.now(UTC))
    assert upload_clip(client, signed_new, media)["state"] == "verified"
    # The old key no longer vouches for anything recorded after it was replaced.
    late_media = b"late " * 300
    late = clip_manifest(old_key, late_media, started_at=datetime.now(UTC) + timedelta(seconds=1))
    r, _ = signed_branch_request(
        client, "POST", "/api/branch/v1/uploads", {"manifest": json.loads(late.canonical_bytes())}
    )
    assert r.status_code == 422 and old_key.key_id in r.get_json()["error"]

    # Both keys are kept, with who approved them and when each was valid.
    with archive_rig.sessions() as db:
        branch = db.execute(select(Branch).where(Branch.code == BRANCH_CODE)).scalar_one()
        versions = (
            db.execute(
                select(BranchSigningKey).where(BranchSigningKey.branch_id == branch.id).order_by(BranchSigningKey.id)
            )
            .scalars()
            .all()
        )
    assert [v.key_id for v in versions] == [old_key.key_id, new_key.key_id]
    assert versions[0].valid_to is not None and versions[1].valid_to is None
    assert versions[1].proposed_by == "sysadmin" and versions[1].approved_by == SECOND_ADMIN
    listed = archive_rig.login("sysadmin").get("/api/admin/branches").get_json()["items"]
    [mine] = [b for b in listed if b["code"] == BRANCH_CODE]
    assert [k["key_id"] for k in mine["signing_keys"]] == [old_key.key_id, new_key.key_id]

    # The evidence package of the old clip ships the key that signed it, and verifies offline.
    folder = unzip(export_zip(archive_rig, archived_old), tmp_path / "old")
    assert (folder / "branch_public_key.txt").read_text().strip() == old_key.public_key_b64
    result = run_verify(folder)
    assert result.returncode == 0, result.stdout


def test_a_chain_across_the_key_change_verifies_in_the_package(archive_rig: ArchiveRig, tmp_path: Path) -> None:
    old_key = archive_rig.key
    client = archive_rig.branch_client()
    first_media = b"first " * 300
    first = clip_manifest(old_key, first_media, started_at=datetime.now(UTC) - timedelta(hours=1))
    assert upload_clip(client, first, first_media)["state"] == "verified"
    new_key = SigningKey.generate()
    _swap_key(archive_rig, new_key)
    second_media = b"second " * 300
    second = clip_manifest(
        new_key, second_media, started_at=datetime.now(UTC), prev_manifest_sha256=first.manifest_sha256()
    )
    assert upload_clip(client, second, second_media)["state"] == "verified"

    folder = unzip(export_zip(archive_rig, first.clip_id), tmp_path / "first")
    result = run_verify(folder)
    assert result.returncode == 0, result.stdout
    assert "PASS  chain: next manifest signed by the branch key" in result.stdout
    folder = unzip(export_zip(archive_rig, second.clip_id), tmp_path / "second")
    assert (folder / "branch_public_key.txt").read_text().strip() == new_key.public_key_b64
    result = run_verify(folder)
    assert result.returncode == 0, result.stdout
    assert "PASS  chain: previous manifest signed by the branch key" in result.stdout


def test_a_retired_key_cannot_come_back(archive_rig: ArchiveRig) -> None:
    old = archive_rig.key
    _swap_key(archive_rig, SigningKey.generate())
    r = archive_rig.login("sysadmin").patch(
        f"/api/admin/branches/{BRANCH_CODE}", json={"signing_public_key": old.public_key_b64}
    )
    assert r.status_code == 409 and r.get_json()["field"] == "signing_public_key"


def test_the_catalogue_rebuilt_from_the_store_keeps_clips_of_a_replaced_key(archive_rig: ArchiveRig) -> None:
    from center_platform.db.models import Recording
    from center_platform.db.quality_models import QualityFinding
    from center_platform.ingest.object_keys import object_key
    from center_platform.operations.rebuild import run_rebuild

    media = b"rebuilt " * 300
    manifest = clip_manifest(archive_rig.key, media, started_at=datetime.now(UTC) - timedelta(hours=1))
    assert upload_clip(archive_rig.branch_client(), manifest, media)["state"] == "verified"
    _swap_key(archive_rig, SigningKey.generate())
    with archive_rig.sessions() as db:
        db.execute(delete(ReplayIndex))
        gone = select(Recording.id).where(Recording.clip_id == manifest.clip_id).scalar_subquery()
        db.execute(delete(QualityFinding).where(QualityFinding.recording_id.in_(gone)))
        db.execute(delete(Recording).where(Recording.clip_id == manifest.clip_id))
        db.commit()
    prefix = object_key(manifest, "FIXED").removesuffix(".mp4")
    report = run_rebuild(archive_rig.sessions, archive_rig.store, prefix=prefix)
    assert report.rebuilt == 1, report.lines()
    with archive_rig.sessions() as db:
        assert db.execute(select(Recording.id).where(Recording.clip_id == manifest.clip_id)).first() is not None
