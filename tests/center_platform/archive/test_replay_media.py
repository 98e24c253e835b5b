"""Replay of archived clips through the center: a clip cut off by a crash (no mfra, a partial last fragment)
and a complete one are served as their replay view by Range, from a bounded pool of store reads; the
evidence itself, in the store and in the export, stays the original bytes."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update

from center_platform.archive.replay import ReplayService, ReplaySettings
from center_platform.archive.replay_cache import BLOCK
from center_platform.db.models import Recording, ReplayIndex
from storage.mp4_index import scan_file
from storage.replay_view import replay_view
from storage.virtual_media import Inserted, Original, VirtualMedia
from tests.center_platform.archive_rig import ArchiveRig, archive_rig  # noqa: F401
from tests.replay_clips import cut_mid_fragment, recorder_clip, view_bytes, without_insertions

MB = 1024 * 1024


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(complete clip, the same clip cut off mid-fragment) from the real recorder."""
    folder = tmp_path_factory.mktemp("center-replay")
    complete = recorder_clip(folder / "complete.mp4", 10)
    interrupted = folder / "interrupted.mp4"
    cut_mid_fragment(complete, interrupted)
    return complete, interrupted


def _view(path: Path) -> tuple[VirtualMedia, bytes, bytes]:
    original = path.read_bytes()
    view = replay_view(scan_file(path))
    return view, original, view_bytes(view, original)


def _media(clip_id: str) -> str:
    return f"/api/recordings/{clip_id}/media"


def test_an_interrupted_clip_is_served_as_its_replay_view_by_range(
    archive_rig: ArchiveRig, clips: tuple[Path, Path]
) -> None:
    view, original, served = _view(clips[1])
    clip_id = archive_rig.archive(media=original)
    viewer = archive_rig.login("compliance")
    size = len(served)

    # Without Range a player gets the first part as a partial answer (here all of a short clip): replay
    # streams, it never hands out the file as a download.
    whole = viewer.get(_media(clip_id))
    assert whole.status_code == 206 and whole.data == served and whole.headers["Content-Length"] == str(size)
    assert whole.headers["Content-Range"] == f"bytes 0-{size - 1}/{size}"
    assert without_insertions(view, whole.data) == original  # every evidence byte, unchanged and in order

    # Across each boundary between the original's bytes and an inserted box.
    boundaries, at = [], 0
    for piece in view.pieces[:-1]:
        at += piece.end - piece.start if isinstance(piece, Original) else len(piece.data)
        boundaries.append(at)
    for b in boundaries:
        r = viewer.get(_media(clip_id), headers={"Range": f"bytes={b - 50}-{b + 49}"})
        assert r.status_code == 206 and r.data == served[b - 50 : b + 50]
        assert r.headers["Content-Range"] == f"bytes {b - 50}-{b + 49}/{size}"
        assert r.headers["Content-Length"] == "100"
    # The end of the view is the index of its fragments: what a player asks for first.
    r = viewer.get(_media(clip_id), headers={"Range": "bytes=-16"})
    assert r.status_code == 206 and r.data[4:8] == b"mfro" and r.data == served[-16:]
    tail = len(original) - 1000
    r = viewer.get(_media(clip_id), headers={"Range": f"bytes={tail}-"})
    assert r.status_code == 206 and r.data == served[tail:] and r.headers["Content-Range"].endswith(f"/{size}")
    r = viewer.get(_media(clip_id), headers={"Range": f"bytes={size}-"})
    assert r.status_code == 416 and r.headers["Content-Range"] == f"bytes */{size}"
    assert viewer.get(_media(clip_id), headers={"Range": "bytes=0-9,20-29"}).status_code == 416


def test_ranges_a_seek_asks_for_again_are_answered_without_the_store(
    archive_rig: ArchiveRig, clips: tuple[Path, Path]
) -> None:
    _, original, served = _view(clips[1])
    clip_id = archive_rig.archive(media=original)
    replay = archive_rig.app.extensions["center"].replay
    viewer = archive_rig.login("compliance")
    before = replay.store_reads
    for lo, hi in ((100_000, 160_000), (90_000, 120_000), (150_000, 170_000), (100_000, 160_000)):
        r = viewer.get(_media(clip_id), headers={"Range": f"bytes={lo}-{hi}"})
        assert r.status_code == 206 and r.data == served[lo : hi + 1]
    assert replay.store_reads == before + 1  # the block read for the first is kept for the others
    r = viewer.get(_media(clip_id))  # a whole answer from kept (and fresh) blocks is still the clip
    assert r.data == served
    assert replay.store_reads == before + (1 if len(original) <= BLOCK else 2)

    # Across block boundaries of a larger object: kept blocks and a fresh read joined in one answer.
    media = bytes(range(256)) * (12 * 1024)  # 3 MB
    clip_id = archive_rig.archive(media=media)
    before = replay.store_reads
    for lo, hi in ((BLOCK - 100, BLOCK + 100), (BLOCK - 50, BLOCK + 50), (0, 10)):
        r = viewer.get(_media(clip_id), headers={"Range": f"bytes={lo}-{hi}"})
        assert r.data == media[lo : hi + 1]
    assert replay.store_reads == before + 1
    r = viewer.get(_media(clip_id), headers={"Range": "bytes=10-"})
    assert r.data == media[10:] and replay.store_reads == before + 2


def test_the_evidence_export_is_still_the_original_clip(archive_rig: ArchiveRig, clips: tuple[Path, Path]) -> None:
    original = clips[1].read_bytes()
    clip_id = archive_rig.archive(media=original)
    viewer = archive_rig.login("compliance")
    assert viewer.get(_media(clip_id), headers={"Range": "bytes=0-"}).status_code == 206  # replayed first
    r = viewer.post(f"/api/recordings/{clip_id}/export")
    assert r.status_code == 200, r.get_data(as_text=True)
    with zipfile.ZipFile(io.BytesIO(r.data)) as package:
        assert package.read(f"{clip_id}.mp4") == original
    with archive_rig.sessions() as db:
        rec = db.execute(select(Recording).where(Recording.clip_id == clip_id)).scalar_one()
    assert archive_rig.store.sha256_hex(rec.object_key, rec.version_id) == (
        hashlib.sha256(original).hexdigest(),
        len(original),
    )


def test_a_complete_clip_gets_the_same_seek_boxes_and_its_own_tail_is_kept(
    archive_rig: ArchiveRig, clips: tuple[Path, Path]
) -> None:
    view, original, served = _view(clips[0])
    clip_id = archive_rig.archive(media=original)
    r = archive_rig.login("compliance").get(_media(clip_id))
    assert r.status_code == 206 and r.data == served
    assert without_insertions(view, r.data) == original
    assert any(isinstance(p, Inserted) and p.data[4:8] == b"sidx" for p in view.pieces)


def test_ingest_indexes_the_clip_from_the_read_it_verifies_it_with(
    archive_rig: ArchiveRig, clips: tuple[Path, Path]
) -> None:
    clip_id = archive_rig.archive(media=clips[1].read_bytes())
    with archive_rig.sessions() as db:
        rec = db.execute(select(Recording).where(Recording.clip_id == clip_id)).scalar_one()
        row = db.get(ReplayIndex, rec.id)
        assert row is not None and row.version_id == rec.version_id
        assert row.fragment_index == scan_file(clips[1]).to_bytes()


def test_a_clip_archived_before_gets_its_index_on_first_replay(
    archive_rig: ArchiveRig, clips: tuple[Path, Path]
) -> None:
    _, original, served = _view(clips[1])
    clip_id = archive_rig.archive(media=original)
    with archive_rig.sessions() as db:
        rec = db.execute(select(Recording).where(Recording.clip_id == clip_id)).scalar_one()
        db.execute(delete(ReplayIndex).where(ReplayIndex.recording_id == rec.id))
        db.commit()
    # A fresh service: nothing cached from the upload, as after a restart.
    svc = archive_rig.app.extensions["center"]
    svc.replay = ReplayService(svc.sessions, svc.store, ReplaySettings())
    r = archive_rig.login("compliance").get(_media(clip_id), headers={"Range": "bytes=0-"})
    assert r.status_code == 206 and r.data == served[: len(r.data)]
    with archive_rig.sessions() as db:
        row = db.get(ReplayIndex, rec.id)
        assert row is not None and row.fragment_index is not None and row.media_size == len(original)


def test_what_is_not_an_mp4_is_served_as_it_is(archive_rig: ArchiveRig) -> None:
    media = bytes(range(256)) * 64
    clip_id = archive_rig.archive(media=media)
    with archive_rig.sessions() as db:
        row = db.execute(select(ReplayIndex).join(Recording).where(Recording.clip_id == clip_id)).scalar_one()
        assert row.fragment_index is None and "moov" in row.note
    r = archive_rig.login("compliance").get(_media(clip_id), headers={"Range": "bytes=100-"})
    assert r.status_code == 206 and r.data == media[100:] and r.headers["Content-Range"] == "bytes 100-16383/16384"


def test_each_answer_is_capped_and_a_full_pool_answers_503(archive_rig: ArchiveRig) -> None:
    media = bytes(range(256)) * (12 * 1024)  # 3 MB
    clip_id = archive_rig.archive(media=media)
    svc = archive_rig.app.extensions["center"]
    svc.replay = ReplayService(
        svc.sessions,
        svc.store,
        ReplaySettings(max_concurrent_reads=1, max_response_bytes=MB, slot_wait_s=0, cache_bytes=0),
    )
    viewer = archive_rig.login("compliance")

    # An open-ended range is answered with at most the cap; the player asks on from there.
    r = viewer.get(_media(clip_id), headers={"Range": "bytes=0-"})
    assert r.status_code == 206 and r.data == media[:MB]
    assert r.headers["Content-Range"] == f"bytes 0-{MB - 1}/{len(media)}"
    r = viewer.get(_media(clip_id), headers={"Range": f"bytes={MB}-"})
    assert r.data == media[MB : 2 * MB]

    # A player still reading its answer holds the only store read; the next one is told to come back.
    slow = viewer.get(_media(clip_id), headers={"Range": "bytes=0-"}, buffered=False)
    assert slow.status_code == 206 and svc.replay.slots_in_use == 1
    busy = viewer.get(_media(clip_id), headers={"Range": "bytes=0-99"})
    assert busy.status_code == 503 and busy.headers["Retry-After"] == "1"
    error = busy.get_json()["error"]
    assert error.startswith("回放服务繁忙") and "replay is busy" in error
    assert error.index("回放") < error.index("replay")
    assert b"".join(slow.response) == media[:MB]
    slow.close()
    assert svc.replay.slots_in_use == 0
    r = viewer.get(_media(clip_id), headers={"Range": "bytes=0-99"})
    assert r.status_code == 206 and r.data == media[:100]


def test_replay_without_range_streams_at_most_one_answer_and_tells_other_branches_nothing(
    archive_rig: ArchiveRig,
) -> None:
    replay = archive_rig.app.extensions["center"].replay
    cap = replay.settings.max_response_bytes
    media = bytes(range(256)) * (cap // 256 + 4096)  # larger than one answer may carry
    clip_id = archive_rig.archive(media=media)
    admin = archive_rig.login("b009admin")
    r = admin.get(_media(clip_id))
    assert r.status_code == 206 and len(r.data) == cap
    assert r.headers["Content-Range"].startswith(f"bytes 0-{cap - 1}/")
    assert "attachment" not in r.headers.get("Content-Disposition", "")
    # Another branch's admin gets the same refusal whether the clip is there or deleted.
    other = archive_rig.login("b010admin")
    assert other.get(_media(clip_id)).status_code == 403
    with archive_rig.sessions() as db:
        db.execute(update(Recording).where(Recording.clip_id == clip_id).values(state="deleted"))
        db.commit()
    assert other.get(_media(clip_id)).status_code == 403
    assert admin.get(_media(clip_id)).status_code == 410
