"""Upload faults that need real processes: the uploader killed with SIGKILL mid-part, the center down,
the store down, the branch host's clock hours off. The center is `python -m center_platform serve`; the
uploader runs as `python -m branch_agent upload run` where it is the process being killed or faked.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from branch_agent.db.models import PENDING, UPLOADING, VERIFIED
from branch_agent.upload.uploader import Uploader
from storage.endpoint import S3Endpoint
from storage.object_store import ObjectStore
from storage.seaweed import SeaweedServer, SeaweedSettings
from tests.upload_rig import PART_SIZE_MB, REPO, BranchRig, CenterProcess, archived, free_port, ingest_row, seed_center

PART = PART_SIZE_MB * 1024 * 1024


@pytest.fixture()
def system(s3_endpoint: S3Endpoint, tmp_path: Path) -> Iterator[tuple[CenterProcess, BranchRig]]:
    center = CenterProcess(tmp_path / "center", s3_endpoint)
    branch = BranchRig(tmp_path / "branch", center.url)
    seed_center(center, branch.secret, branch.key.public_key_b64)
    center.start()
    yield center, branch
    center.kill()


def _upload_run(branch: BranchRig, prefix: list[str] | None = None) -> subprocess.Popen[str]:
    argv = [
        *(prefix or []),
        sys.executable,
        "-m",
        "branch_agent",
        "--config",
        str(branch.write_config()),
        "upload",
        "run",
    ]
    return subprocess.Popen(
        argv,
        cwd=REPO,
        env=branch.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _assert_archived_once(center: CenterProcess, store: ObjectStore, clip_id: str, sha256: str) -> None:
    held = archived(center, store, clip_id)
    assert held.catalogue_rows == 1 and held.ingest_rows == 1
    assert held.recording_sha256 == held.stored_sha256 == sha256
    assert len(held.object_versions) == 1 and len(held.manifest_versions) == 1
    assert held.lock_mode == "COMPLIANCE"


@pytest.mark.slow
def test_uploader_killed_mid_part_resumes_and_sends_only_the_rest(
    system: tuple[CenterProcess, BranchRig], store: ObjectStore
) -> None:
    center, branch = system
    parts = 8
    clip, _ = branch.add_clip(parts * PART)
    branch.bandwidth_mbit = 80  # 10 MB/s: each 5 MB part is on the wire for a while
    child = _upload_run(branch)
    try:
        _wait_for_stored_parts(center, store, clip.clip_id, child)
        os.killpg(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    key, upload_id, _ = ingest_row(center, clip.clip_id)  # type: ignore[misc]
    stored_at_kill = sorted(p.part_number for p in store.list_parts(key, upload_id))  # type: ignore[arg-type]
    assert 0 < len(stored_at_kill) < parts
    assert branch.clip(clip.clip_id).upload_state == UPLOADING  # queued, not failed, not uploaded
    assert archived(center, store, clip.clip_id).catalogue_rows == 0

    again = _upload_run(branch)
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err[-3000:]
    assert f"parts={parts - len(stored_at_kill)} " in out  # only what the store did not hold
    after = branch.clip(clip.clip_id)
    assert after.upload_state == VERIFIED
    details = [d for _, to, d in branch.transitions(clip.clip_id) if to == UPLOADING]
    assert details[-1] == f"resumed: {len(stored_at_kill)} of {parts} parts already in the archive"
    _assert_archived_once(center, store, clip.clip_id, after.sha256 or "")


def test_center_down_for_the_whole_window_keeps_clips_queued(
    system: tuple[CenterProcess, BranchRig], store: ObjectStore
) -> None:
    center, branch = system
    first, _ = branch.add_clip(PART + 10)
    second, _ = branch.add_clip(100_000)
    center.kill()
    uploader = Uploader(branch.sessions, branch.client())
    assert uploader.run_once() == []  # the batch stopped at the first clip
    one, two = branch.clip(first.clip_id), branch.clip(second.clip_id)
    assert one.upload_state == PENDING and "unreachable" in one.upload_error and one.upload_attempts == 1
    assert two.upload_state == PENDING and two.upload_attempts == 0
    assert branch.transitions(first.clip_id) == [] and uploader.queue() == [first.clip_id, second.clip_id]

    center.start()  # the next window
    results = uploader.run_once()
    assert [(r.clip_id, r.state) for r in results] == [(first.clip_id, "verified"), (second.clip_id, "verified")]
    for clip in (one, two):
        assert branch.clip(clip.clip_id).upload_error == ""
        _assert_archived_once(center, store, clip.clip_id, clip.sha256 or "")


@pytest.fixture()
def own_storage(tmp_path: Path) -> Iterator[SeaweedServer]:
    """A store of its own on a fixed port, so that it can be stopped and started again under the center."""
    server = SeaweedServer(SeaweedSettings(data_dir=tmp_path / "seaweed", bucket="evidence-down", s3_port=free_port()))
    server.start()
    ObjectStore(server.endpoint).ensure_evidence_bucket()  # type: ignore[arg-type]
    yield server
    server.stop()


def _wait_for_stored_parts(
    center: CenterProcess, store: ObjectStore, clip_id: str, still_running: threading.Thread | subprocess.Popen[str]
) -> list[int]:
    """Polls the store's parts list until it holds some of the clip: the rest are then on the wire."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        alive = (
            still_running.is_alive() if isinstance(still_running, threading.Thread) else still_running.poll() is None
        )
        if not alive:
            break
        row = ingest_row(center, clip_id)
        if row is not None and row[1] is not None:
            stored = [p.part_number for p in store.list_parts(row[0], row[1])]
            if stored:
                return stored
        time.sleep(0.05)
    raise AssertionError("the uploader ended (or stalled) before the store held any part")


@pytest.mark.slow
def test_storage_down_mid_upload_and_at_registration_keeps_clips_queued(
    own_storage: SeaweedServer, tmp_path: Path
) -> None:
    assert own_storage.endpoint is not None
    store = ObjectStore(own_storage.endpoint)
    center = CenterProcess(tmp_path / "center", own_storage.endpoint)
    branch = BranchRig(tmp_path / "branch", center.url)
    seed_center(center, branch.secret, branch.key.public_key_b64)
    center.start()
    try:
        parts = 8
        first, _ = branch.add_clip(parts * PART)
        second, _ = branch.add_clip(PART + 1)
        uploader = Uploader(branch.sessions, branch.client(), bandwidth_mbit=80)
        results: list[object] = []
        run = threading.Thread(target=lambda: results.extend(uploader.run_once()))
        run.start()
        _wait_for_stored_parts(center, store, first.clip_id, run)
        own_storage.stop()  # the store goes away with parts on the wire
        run.join(timeout=120)
        assert results == []
        one, two = branch.clip(first.clip_id), branch.clip(second.clip_id)
        assert one.upload_state == UPLOADING and one.upload_attempts == 1
        assert "archive storage" in one.upload_error, one.upload_error
        assert two.upload_state == PENDING and two.upload_attempts == 0

        # Still down at the next run: the center cannot even answer which parts it holds.
        assert uploader.run_once() == []
        one = branch.clip(first.clip_id)
        assert one.upload_state == UPLOADING and one.upload_attempts == 2
        assert "storage unavailable" in one.upload_error, one.upload_error
        assert not [t for t in branch.transitions(first.clip_id) if t[1] in ("quarantined", "verified")]

        own_storage.start()
        assert [(r.clip_id, r.state) for r in uploader.run_once()] == [
            (first.clip_id, "verified"),
            (second.clip_id, "verified"),
        ]
        for clip in (one, two):
            assert branch.clip(clip.clip_id).upload_error == ""
            _assert_archived_once(center, store, clip.clip_id, clip.sha256 or "")
    finally:
        center.kill()


def test_branch_host_clock_hours_off_uploads_and_reports_the_offset(
    system: tuple[CenterProcess, BranchRig], store: ObjectStore
) -> None:
    center, branch = system
    clip, _ = branch.add_clip(PART + 99)
    # The whole uploader process lives five hours in the past; the center and the store keep true time.
    child = _upload_run(branch, prefix=["faketime", "-f", "-5h"])
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err[-3000:]
    assert f"{clip.clip_id} verified" in out
    assert re.search(r"branch clock is -1(7999|8000) s off the center's", err), err[-2000:]
    _assert_archived_once(center, store, clip.clip_id, clip.sha256 or "")
