"""Work the center does synchronously is bounded: evidence exports and upload completions (the re-hash)
beyond `[security] max_concurrent_*` are answered 503 with Retry-After, and the branch takes that
answer as "try later", keeping its clip queued without marking anything failed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from branch_agent.db.models import UPLOADED, VERIFIED
from branch_agent.upload.uploader import Uploader
from center_platform.db.models import AuditEvent, Branch
from tests.center_platform.archive_rig import (  # noqa: F401
    BRANCH_CODE,
    BRANCH_SECRET,
    ArchiveRig,
    archive_rig,
    signed_branch_request,
)
from tests.http_serving import serving
from tests.upload_rig import BranchRig


def _audit_count(rig: ArchiveRig, action: str) -> int:
    with rig.sessions() as db:
        return int(
            db.execute(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)).scalar_one()
        )


def test_exports_beyond_the_limit_are_answered_503_with_retry_after(archive_rig: ArchiveRig) -> None:
    clip_id = archive_rig.archive()
    slots = archive_rig.app.extensions["export_slots"]
    assert slots.size == archive_rig.config.security.max_concurrent_exports == 2
    assert [slots.try_take(), slots.try_take()] == [True, True]  # two exports running
    officer = archive_rig.login("compliance")
    try:
        r = officer.post(f"/api/recordings/{clip_id}/export")
        assert r.status_code == 503 and int(r.headers["Retry-After"]) >= 1
        assert "too many evidence exports" in r.get_json()["error"]
        assert _audit_count(archive_rig, "recording.exported") == 0
    finally:
        slots.give_back()
    r = officer.post(f"/api/recordings/{clip_id}/export")  # one slot free again
    assert r.status_code == 200 and r.mimetype == "application/zip"
    slots.give_back()
    assert [slots.try_take(), slots.try_take(), slots.try_take()] == [True, True, False]  # both came back


@pytest.fixture()
def live_archive(archive_rig: ArchiveRig) -> Iterator[str]:
    with serving(archive_rig.app) as url:
        yield url


def test_completions_beyond_the_limit_get_503_and_the_branch_tries_again_later(
    archive_rig: ArchiveRig, live_archive: str, tmp_path: Path
) -> None:
    branch = BranchRig(tmp_path / "branch", live_archive, secret=BRANCH_SECRET)
    with archive_rig.sessions() as db:
        db.execute(
            update(Branch).where(Branch.code == BRANCH_CODE).values(signing_public_key=branch.key.public_key_b64)
        )
        db.commit()
    clip, _ = branch.add_clip(64 * 1024)
    slots = archive_rig.app.extensions["completion_slots"]
    assert slots.size == archive_rig.config.security.max_concurrent_completions == 2
    assert [slots.try_take(), slots.try_take()] == [True, True]
    try:
        r, _ = signed_branch_request(
            archive_rig.branch_client(), "POST", f"/api/branch/v1/uploads/{clip.clip_id}/complete"
        )
        assert r.status_code == 503 and int(r.headers["Retry-After"]) >= 1
        assert "try again later" in r.get_json()["error"]

        uploader = Uploader(branch.sessions, branch.client())
        assert uploader.run_once() == []  # paused: nothing failed, nothing settled
        held = branch.clip(clip.clip_id)
        assert held.upload_state == UPLOADED and "503" in held.upload_error
        assert [t[1] for t in branch.transitions(clip.clip_id)] == ["uploading", "uploaded"]
        assert uploader.queue() == [clip.clip_id]  # still queued for the next run
    finally:
        slots.give_back()
        slots.give_back()
    results = Uploader(branch.sessions, branch.client()).run_once()
    assert [(r.clip_id, r.state) for r in results] == [(clip.clip_id, VERIFIED)]
    assert branch.clip(clip.clip_id).upload_state == VERIFIED
