"""The branch's manifest chain at ingest: linked in order, linked late when clips arrive out of order,
a fork quarantined and never catalogued."""

from __future__ import annotations

import json
import secrets

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from center_platform.db.models import AuditEvent, IngestUpload, Recording
from storage.manifest import ClipManifest
from tests.center_platform.archive_rig import ArchiveRig, archive_rig, clip_manifest, upload_clip  # noqa: F401


def _send(rig: ArchiveRig, prev: ClipManifest | None) -> tuple[ClipManifest, dict[str, object]]:
    media = secrets.token_bytes(2048)
    manifest = clip_manifest(rig.key, media, prev_manifest_sha256=prev.manifest_sha256() if prev else None)
    return manifest, upload_clip(rig.branch_client(), manifest, media)


def _chain(rig: ArchiveRig) -> dict[str, str]:
    with rig.sessions() as db:
        return dict(db.execute(select(Recording.clip_id, Recording.chain_status)).tuples().all())


def test_clips_in_order_form_a_linked_chain(archive_rig: ArchiveRig) -> None:
    first, _ = _send(archive_rig, None)
    second, _ = _send(archive_rig, first)
    third, _ = _send(archive_rig, second)
    assert _chain(archive_rig) == {first.clip_id: "first", second.clip_id: "linked", third.clip_id: "linked"}


def test_clip_arriving_before_its_predecessor_is_linked_when_the_predecessor_arrives(archive_rig: ArchiveRig) -> None:
    first, _ = _send(archive_rig, None)
    media = secrets.token_bytes(2048)
    second = clip_manifest(archive_rig.key, media, prev_manifest_sha256=first.manifest_sha256())
    third, outcome = _send(archive_rig, second)  # the second clip's upload failed last night
    assert outcome["state"] == "verified"
    assert _chain(archive_rig)[third.clip_id] == "awaiting"
    assert upload_clip(archive_rig.branch_client(), second, media)["state"] == "verified"
    assert _chain(archive_rig) == {first.clip_id: "first", second.clip_id: "linked", third.clip_id: "linked"}


def test_two_clips_following_the_same_manifest_is_a_fork_and_the_second_is_quarantined(archive_rig: ArchiveRig) -> None:
    first, _ = _send(archive_rig, None)
    kept, _ = _send(archive_rig, first)
    forked, outcome = _send(archive_rig, first)
    assert outcome["state"] == "quarantined"
    assert f"fork: clip {kept.clip_id} already follows manifest {first.manifest_sha256()}" in str(outcome["reason"])
    assert set(_chain(archive_rig)) == {first.clip_id, kept.clip_id}
    with archive_rig.sessions() as db:
        row = db.execute(select(IngestUpload).where(IngestUpload.clip_id == forked.clip_id)).scalar_one()
        assert row.state == "quarantined" and "fork" in row.reason


def test_operations_view_lists_the_missing_predecessor_until_it_arrives(archive_rig: ArchiveRig) -> None:
    first, _ = _send(archive_rig, None)
    media = secrets.token_bytes(2048)
    second = clip_manifest(archive_rig.key, media, prev_manifest_sha256=first.manifest_sha256())
    _send(archive_rig, second)
    ops = archive_rig.login("sysadmin")
    [row] = [b for b in ops.get("/api/operations/uploads").get_json()["branches"] if b["branch_code"] == "B009"]
    assert row["missing_predecessors"] == [second.manifest_sha256()]
    assert f'data-chain-gap="{second.manifest_sha256()}"' in ops.get("/operations/uploads").get_data(as_text=True)
    upload_clip(archive_rig.branch_client(), second, media)
    [row] = [b for b in ops.get("/api/operations/uploads").get_json()["branches"] if b["branch_code"] == "B009"]
    assert row["missing_predecessors"] == []


def test_a_chain_started_again_is_catalogued_but_flagged_in_operations(archive_rig: ArchiveRig) -> None:
    first, _ = _send(archive_rig, None)
    second, _ = _send(archive_rig, first)
    again, outcome = _send(archive_rig, None)  # the agent lost its chain state: it starts from nothing
    assert outcome["state"] == "verified"
    assert _chain(archive_rig) == {first.clip_id: "first", second.clip_id: "linked", again.clip_id: "restarted"}
    ops = archive_rig.login("sysadmin")
    [row] = [b for b in ops.get("/api/operations/uploads").get_json()["branches"] if b["branch_code"] == "B009"]
    assert row["chain_restarts"] == 1
    assert 'data-chain-restarts="1"' in ops.get("/operations/uploads").get_data(as_text=True)
    with archive_rig.sessions() as db:
        verified = db.execute(
            select(AuditEvent).where(AuditEvent.target == again.clip_id, AuditEvent.action == "ingest.verified")
        ).scalar_one()
    assert "starts again" in json.loads(verified.detail)["chain_note"]


def test_the_catalogue_refuses_a_second_successor_of_one_manifest(archive_rig: ArchiveRig) -> None:
    """Two forks completing at the same moment both pass the check; the catalogue's key stops the second."""
    first, _ = _send(archive_rig, None)
    kept, _ = _send(archive_rig, first)
    with archive_rig.sessions() as db:
        row = db.execute(select(Recording).where(Recording.clip_id == kept.clip_id)).scalar_one()
        twin = Recording(**{c.key: getattr(row, c.key) for c in Recording.__table__.columns if c.key != "id"})
        twin.clip_id, twin.manifest_sha256 = secrets.token_hex(16), "ab" * 32
        db.add(twin)
        with pytest.raises(IntegrityError):
            db.commit()
