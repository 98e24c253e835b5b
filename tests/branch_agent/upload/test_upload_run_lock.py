"""One upload run at a time: the schedule, "upload now" and the CLI each call `Uploader.run_once`, and a
second caller is told at once that an upload is running instead of sending the same clip again.
Against a real center process and SeaweedFS; the only seam is the spool disk, held mid-upload.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from branch_agent.db.models import VERIFIED
from branch_agent.upload.parts import read_part
from branch_agent.upload.uploader import UploadAlreadyRunning, Uploader, UploadResult
from storage.endpoint import S3Endpoint
from storage.object_store import ObjectStore
from tests.upload_rig import PART_SIZE_MB, REPO, BranchRig, CenterProcess, archived, seed_center

PART = PART_SIZE_MB * 1024 * 1024
HOLD_S = 120  # upper bound only: the held run is released as soon as the other caller has its answer


@pytest.fixture(scope="module")
def enrolled(
    s3_endpoint: S3Endpoint, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[CenterProcess, BranchRig]]:
    workdir = tmp_path_factory.mktemp("upload-run-lock")
    center = CenterProcess(workdir / "center", s3_endpoint)
    branch = BranchRig(workdir / "branch", center.url)
    seed_center(center, branch.secret, branch.key.public_key_b64)
    center.start()
    yield center, branch
    center.kill()


@pytest.fixture()
def rig(enrolled: tuple[CenterProcess, BranchRig], tmp_path: Path) -> tuple[CenterProcess, BranchRig]:
    """The shared center, and a fresh spool of the enrolled branch: each test sees only its own queue."""
    center, branch = enrolled
    return center, BranchRig(tmp_path / "branch", center.url, same_branch_as=branch)


class HeldDisk:
    """Reads parts from the spool, but the first read waits until released: the run is then mid-upload,
    registered with the center and holding the lock."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.reads: Counter[int] = Counter()
        self._lock = threading.Lock()

    def __call__(self, media: Path, part_number: int, part_size: int) -> bytes:
        with self._lock:
            self.reads[part_number] += 1
        self.entered.set()
        assert self.release.wait(HOLD_S), "the held upload was never released"
        return read_part(media, part_number, part_size)


def _assert_uploaded_once(center: CenterProcess, store: ObjectStore, branch: BranchRig, clip_id: str) -> None:
    after = branch.clip(clip_id)
    assert after.upload_state == VERIFIED and after.upload_attempts == 0
    held = archived(center, store, clip_id)
    assert held.catalogue_rows == 1 and held.ingest_rows == 1
    assert len(held.object_versions) == 1 and len(held.manifest_versions) == 1
    assert held.recording_sha256 == held.stored_sha256 == after.sha256
    # One run's record: registered once, uploaded once, verified once; never resumed by a second sender.
    states = [(f, t) for f, t, _ in branch.transitions(clip_id)]
    assert states == [("pending", "uploading"), ("uploading", "uploaded"), ("uploaded", "verified")]


def test_two_runs_started_together_upload_the_clip_once(
    rig: tuple[CenterProcess, BranchRig], store: ObjectStore
) -> None:
    center, branch = rig
    clip, _ = branch.add_clip(2 * PART + 4321)
    disk = HeldDisk()
    uploader = Uploader(branch.sessions, branch.client(), read=disk)
    start = threading.Barrier(2)
    finished: list[list[UploadResult]] = []
    busy: list[UploadAlreadyRunning] = []
    errors: list[BaseException] = []
    both_answered = threading.Semaphore(0)

    def caller() -> None:
        start.wait()
        try:
            finished.append(uploader.run_once())
        except UploadAlreadyRunning as exc:
            busy.append(exc)
            both_answered.release()  # the loser has its answer: the winner may go on
        except BaseException as exc:  # collected and asserted below, not swallowed
            errors.append(exc)

    threads = [threading.Thread(target=caller, name=f"upload-caller-{i}") for i in range(2)]
    for t in threads:
        t.start()
    assert both_answered.acquire(timeout=HOLD_S), errors  # one caller was turned away at once...
    assert disk.entered.wait(HOLD_S), errors  # ...while the other is mid-upload, held at its first part
    assert finished == [] and uploader.running
    disk.release.set()
    for t in threads:
        t.join(timeout=HOLD_S)
    assert errors == []
    assert len(busy) == 1 and "already running" in str(busy[0]) and "上传正在进行" in str(busy[0])
    [[result]] = finished
    assert result.clip_id == clip.clip_id and result.state == "verified"
    assert result.parts_sent == 3 and sorted(disk.reads) == [1, 2, 3] and set(disk.reads.values()) == {1}
    assert not uploader.running
    _assert_uploaded_once(center, store, branch, clip.clip_id)


def test_the_cli_is_turned_away_while_the_agent_uploads(
    rig: tuple[CenterProcess, BranchRig], store: ObjectStore
) -> None:
    """The agent and `python -m branch_agent upload run` are two processes: the lock file keeps them apart."""
    center, branch = rig
    clip, _ = branch.add_clip(PART + 99)
    disk = HeldDisk()
    agent = Uploader(branch.sessions, branch.client(), read=disk, lock_path=branch.data_dir / "upload.lock")
    results: list[UploadResult] = []
    run = threading.Thread(target=lambda: results.extend(agent.run_once()), name="agent-upload")
    run.start()
    try:
        assert disk.entered.wait(HOLD_S), "the agent's run never reached the parts"
        cli = subprocess.run(
            [sys.executable, "-m", "branch_agent", "--config", str(branch.write_config()), "upload", "run"],
            cwd=REPO,
            env=branch.env(),
            capture_output=True,
            text=True,
            timeout=HOLD_S,
        )
    finally:
        disk.release.set()
        run.join(timeout=HOLD_S)
    assert cli.returncode == 1 and "an upload is already running" in cli.stderr, (cli.returncode, cli.stderr)
    assert cli.stdout == ""  # it sent nothing and reported no clip
    assert [(r.clip_id, r.state) for r in results] == [(clip.clip_id, "verified")]
    _assert_uploaded_once(center, store, branch, clip.clip_id)
