"""Upload faults the branch meets on its own side: corrupted parts, an altered evidence file, a wrong
clock, the same clip sent twice, and the bandwidth cap. Against a real center process and SeaweedFS.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from branch_agent.db.models import PENDING, QUARANTINED, UPLOADING, VERIFIED, Clip, LocalAudit
from branch_agent.upload.parts import RateLimiter, ThrottledBody, hash_clip, read_part
from branch_agent.upload.uploader import Uploader
from storage.endpoint import S3Endpoint
from storage.object_store import ObjectStore
from tests.upload_rig import PART_SIZE_MB, BranchRig, CenterProcess, archived, ingest_row, manifest_of, seed_center

PART = PART_SIZE_MB * 1024 * 1024


@pytest.fixture(scope="module")
def enrolled(
    s3_endpoint: S3Endpoint, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[CenterProcess, BranchRig]]:
    workdir = tmp_path_factory.mktemp("upload-faults")
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


class FakeClock:
    """Time that moves only when the code under test sleeps: the cap is measured exactly, with no wall clock."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _assert_archived_once(center: CenterProcess, store: ObjectStore, clip: Clip) -> None:
    held = archived(center, store, clip.clip_id)
    assert held.catalogue_rows == 1 and held.ingest_rows == 1
    assert held.recording_sha256 == held.stored_sha256 == clip.sha256
    assert len(held.object_versions) == 1 and len(held.manifest_versions) == 1
    assert held.lock_mode == "COMPLIANCE"


# -- bandwidth cap ------------------------------------------------------------------------------


def test_rate_limiter_paces_bytes_to_the_cap_without_bursting_after_idle() -> None:
    clock = FakeClock()
    limiter = RateLimiter(8.0, clock=clock, sleep=clock.sleep)  # 8 Mbit/s = 1 000 000 bytes/s
    start = clock.now
    limiter.take(1_000_000)
    limiter.take(500_000)
    assert clock.now - start == pytest.approx(1.5)
    clock.now += 60  # idle (waiting for the center) earns no burst afterwards
    before = clock.now
    limiter.take(250_000)
    assert clock.now - before == pytest.approx(0.25)


def test_rate_limiter_is_shared_fairly_by_concurrent_senders() -> None:
    clock = FakeClock()
    waits: list[float] = []
    lock = threading.Lock()

    def record(seconds: float) -> None:  # the clock stands still: each sender waits its turn on the line
        with lock:
            waits.append(seconds)

    limiter = RateLimiter(8.0, clock=clock, sleep=record)
    threads = [threading.Thread(target=limiter.take, args=(250_000,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(waits) == pytest.approx([0.25, 0.5, 0.75, 1.0])


def test_no_cap_means_no_waiting() -> None:
    clock = FakeClock()
    RateLimiter(0, clock=clock, sleep=clock.sleep).take(10**9)
    assert clock.slept == []


def test_throttled_body_hands_over_every_byte_at_the_cap() -> None:
    clock = FakeClock()
    data = bytes(range(256)) * 4000
    body = ThrottledBody(data, RateLimiter(1.0, clock=clock, sleep=clock.sleep))
    got = b"".join(iter(lambda: body.read(8192), b""))
    assert got == data and len(body) == len(data)
    assert clock.now - 1000.0 == pytest.approx(len(data) * 8 / 1_000_000)


def test_capped_upload_takes_the_time_the_cap_allows(rig: tuple[CenterProcess, BranchRig], store: ObjectStore) -> None:
    center, branch = rig
    clip, media = branch.add_clip(2 * PART + 12345)
    clock = FakeClock()
    uploader = Uploader(
        branch.sessions,
        branch.client(),
        bandwidth_mbit=20.0,
        pace=lambda mbit: RateLimiter(mbit, clock=clock, sleep=clock.sleep),
    )
    [result] = uploader.run_once()
    assert result.state == "verified" and result.bytes_sent == len(media)
    # Every byte went through the cap: the paced time is exactly size / rate.
    assert clock.now - 1000.0 == pytest.approx(len(media) * 8 / 20_000_000)
    _assert_archived_once(center, store, branch.clip(clip.clip_id))


# -- hashing ------------------------------------------------------------------------------------


def test_hash_clip_gives_the_whole_file_and_each_wanted_part(tmp_path: Path) -> None:
    import base64
    import hashlib

    data = bytes(range(256)) * 100  # 25 600 bytes, parts of 10 000
    path = tmp_path / "c.mp4"
    path.write_bytes(data)
    digest = hash_clip(path, 10_000, {1, 3})
    assert digest.sha256_hex == hashlib.sha256(data).hexdigest() and digest.size == len(data)
    assert set(digest.part_sha256_b64) == {1, 3}
    assert digest.part_sha256_b64[3] == base64.b64encode(hashlib.sha256(data[20_000:]).digest()).decode()
    assert read_part(path, 3, 10_000) == data[20_000:]


# -- corrupted parts and altered evidence -------------------------------------------------------


class FlakyDisk:
    """Reads parts from the spool, but hands over damaged bytes for chosen reads of one part."""

    def __init__(self, part_number: int, bad_reads: set[int], alter_file: bool = False) -> None:
        self.part_number = part_number
        self.bad_reads = bad_reads
        self.alter_file = alter_file
        self.reads = 0

    def __call__(self, media: Path, part_number: int, part_size: int) -> bytes:
        data = read_part(media, part_number, part_size)
        if part_number != self.part_number:
            return data
        self.reads += 1
        if self.reads not in self.bad_reads:
            return data
        if self.alter_file:  # the evidence file itself changes on disk
            with open(media, "r+b") as fh:
                fh.seek((part_number - 1) * part_size + 100)
                fh.write(bytes([data[100] ^ 0xFF]))
            return read_part(media, part_number, part_size)
        damaged = bytearray(data)
        damaged[100] ^= 0xFF
        return bytes(damaged)


def test_part_corrupted_on_the_way_is_refused_and_sent_again(
    rig: tuple[CenterProcess, BranchRig], store: ObjectStore
) -> None:
    center, branch = rig
    clip, _media = branch.add_clip(3 * PART + 999)
    disk = FlakyDisk(part_number=2, bad_reads={1})
    [result] = Uploader(branch.sessions, branch.client(), read=disk).run_once()
    assert result.state == "verified", result
    assert disk.reads == 2  # refused once by the store, read again from disk, accepted
    after = branch.clip(clip.clip_id)
    assert after.upload_state == VERIFIED and after.upload_error == ""
    uploaded = [detail for _, to, detail in branch.transitions(clip.clip_id) if to == "uploaded"]
    assert len(uploaded) == 1 and "part 2: BadDigest" in uploaded[0]
    _assert_archived_once(center, store, after)


def test_part_refused_every_time_stays_queued_with_the_error(
    rig: tuple[CenterProcess, BranchRig], store: ObjectStore
) -> None:
    center, branch = rig
    clip, _ = branch.add_clip(2 * PART + 10)
    disk = FlakyDisk(part_number=1, bad_reads={1, 2, 3, 4})
    [result] = Uploader(branch.sessions, branch.client(), read=disk).run_once()
    assert result.state == "failed" and disk.reads == 3  # bounded retries
    after = branch.clip(clip.clip_id)
    assert after.upload_state == UPLOADING  # still queued: the next run tries again
    assert "did not accept part 1 after 3 attempts" in after.upload_error and after.upload_attempts == 1
    assert archived(center, store, clip.clip_id).catalogue_rows == 0
    # The disk behaves again: the next run completes it.
    [result] = Uploader(branch.sessions, branch.client()).run_once()
    assert result.state == "verified"
    _assert_archived_once(center, store, branch.clip(clip.clip_id))


def test_evidence_altered_on_disk_is_never_uploaded(
    rig: tuple[CenterProcess, BranchRig], store: ObjectStore, caplog: pytest.LogCaptureFixture
) -> None:
    center, branch = rig
    clip, media = branch.add_clip(2 * PART + 500)
    with open(clip.media_path, "r+b") as fh:  # one byte flipped after the manifest was signed
        fh.seek(PART + 7)
        fh.write(bytes([media[PART + 7] ^ 0x01]))
    with caplog.at_level(logging.ERROR, logger="branch_agent.upload.uploader"):
        [result] = Uploader(branch.sessions, branch.client()).run_once()
    assert result.state == QUARANTINED and result.parts_sent == 0
    after = branch.clip(clip.clip_id)
    assert after.upload_state == QUARANTINED and "evidence file altered on the branch" in after.upload_error
    assert Path(after.media_path).exists()  # kept as it is for whoever investigates
    assert any("ALERT" in r.message and clip.clip_id in r.message for r in caplog.records)
    with branch.sessions() as db:
        assert db.execute(select(LocalAudit.action).where(LocalAudit.target == clip.clip_id)).scalars().all() == [
            "upload.evidence_altered"
        ]
    key, upload_id, state = ingest_row(center, clip.clip_id)  # type: ignore[misc]
    assert state == "uploading" and upload_id is not None
    assert store.list_parts(key, upload_id) == []  # not one byte of it went out
    assert archived(center, store, clip.clip_id).catalogue_rows == 0
    assert Uploader(branch.sessions, branch.client()).queue().count(clip.clip_id) == 0  # not retried blindly


def test_evidence_altered_during_the_upload_stops_it(rig: tuple[CenterProcess, BranchRig], store: ObjectStore) -> None:
    center, branch = rig
    clip, _ = branch.add_clip(3 * PART + 77)
    disk = FlakyDisk(part_number=2, bad_reads={1}, alter_file=True)
    [result] = Uploader(branch.sessions, branch.client(), read=disk).run_once()
    assert result.state == QUARANTINED
    after = branch.clip(clip.clip_id)
    assert (
        after.upload_state == QUARANTINED and "part 2" in after.upload_error and "changed on disk" in after.upload_error
    )
    held = archived(center, store, clip.clip_id)
    assert held.catalogue_rows == 0 and held.object_versions == []  # never assembled, never catalogued


# -- clock and duplicates -----------------------------------------------------------------------


def test_branch_clock_hours_off_still_uploads_and_the_offset_is_known(
    rig: tuple[CenterProcess, BranchRig], store: ObjectStore, caplog: pytest.LogCaptureFixture
) -> None:
    center, branch = rig
    clip, _ = branch.add_clip(PART + 1)
    client = branch.client(clock=lambda: time.time() - 5 * 3600)  # the branch thinks it is five hours earlier
    with caplog.at_level(logging.WARNING, logger="branch_agent.upload.uploader"):
        [result] = Uploader(branch.sessions, client).run_once()
    assert result.state == "verified"
    assert client.clock_offset_s == pytest.approx(5 * 3600, abs=2)
    assert any(re.search(r"branch clock is -(17999|18000) s off", r.message) for r in caplog.records)
    _assert_archived_once(center, store, branch.clip(clip.clip_id))


def test_same_clip_registered_and_completed_concurrently_is_one_row(
    rig: tuple[CenterProcess, BranchRig], store: ObjectStore
) -> None:
    center, branch = rig
    clip, _ = branch.add_clip(2 * PART + 3)
    manifest = manifest_of(clip)
    gate = threading.Barrier(4)
    plans: list[object] = []
    errors: list[BaseException] = []

    def register() -> None:
        try:
            client = branch.client()
            gate.wait()
            plans.append(client.register_upload(manifest))
        except BaseException as exc:  # collected and asserted below, not swallowed
            errors.append(exc)

    threads = [threading.Thread(target=register) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(plans) == 4
    assert {p.state for p in plans} == {"uploading"}  # type: ignore[attr-defined]
    assert archived(center, store, clip.clip_id).ingest_rows == 1

    # Two uploaders (a retry racing the scheduled run) send and complete the same clip at once.
    results: list[object] = []

    def upload() -> None:
        try:
            results.append(Uploader(branch.sessions, branch.client()).upload(clip.clip_id))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=upload) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and {r.state for r in results} == {"verified"}  # type: ignore[attr-defined]
    _assert_archived_once(center, store, branch.clip(clip.clip_id))

    # The branch lost the answer and registers again later: still one row, nothing re-sent.
    with branch.sessions() as db:
        db.execute(select(Clip).where(Clip.clip_id == clip.clip_id)).scalar_one().upload_state = PENDING
        db.commit()
    [again] = Uploader(branch.sessions, branch.client()).run_once()
    assert again.state == "verified" and again.parts_sent == 0
    _assert_archived_once(center, store, branch.clip(clip.clip_id))
