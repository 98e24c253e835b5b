"""The fragment index of a real recorder clip, the seek boxes made from it, and the replay view a player is
served: the clip's bytes unchanged and in order, with the boxes inserted, that FFmpeg opens and seeks."""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import av
import pytest

from storage.mp4_index import FragmentIndex, FragmentScanner, Mp4IndexError, scan_file
from storage.mp4_seek_boxes import build_mfra, parse_mfra, parse_sidx, trailing_mfra_size
from storage.replay_view import replay_view
from storage.virtual_media import Inserted, Original, RangeNotServed, VirtualMedia, answer_range
from tests.replay_clips import cut_mid_fragment, fragment_offsets, recorder_clip, view_bytes, without_insertions

SECONDS = 12


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return recorder_clip(tmp_path_factory.mktemp("replay") / "clip.mp4", SECONDS)


@pytest.fixture(scope="module")
def interrupted(clip: Path) -> Path:
    dest = clip.with_name("interrupted.mp4")
    cut_mid_fragment(clip, dest)
    return dest


def _scan_in_chunks(data: bytes, size: int) -> FragmentIndex:
    scanner = FragmentScanner()
    for at in range(0, len(data), size):
        scanner.feed(data[at : at + size])
    return scanner.finish()


def test_every_fragment_is_indexed_whatever_the_chunks_it_is_read_in(clip: Path) -> None:
    data = clip.read_bytes()
    index = scan_file(clip)
    assert index.fragment_count == SECONDS == len(fragment_offsets(data))
    assert list(index.moof_offsets) == fragment_offsets(data)
    assert index.has_mfra and index.complete_size == index.media_size == len(data)
    assert [t.handler for t in index.tracks] == ["vide", "soun"]
    video = index.tracks[0]
    assert index.times[video.track_id][0] == 0
    assert index.end_times[video.track_id] / video.timescale == pytest.approx(SECONDS, abs=0.1)
    for size in (1_000_003, 4096, 7):
        assert _scan_in_chunks(data, size).to_bytes() == index.to_bytes()
    assert FragmentIndex.from_bytes(index.to_bytes()).to_bytes() == index.to_bytes()


def test_the_mfra_made_from_the_index_is_the_one_the_recorder_wrote(clip: Path) -> None:
    data = clip.read_bytes()
    written = data[-trailing_mfra_size(data[-16:]) :]
    assert build_mfra(scan_file(clip)) == written


def test_a_clip_cut_off_mid_fragment_indexes_its_complete_fragments(clip: Path, interrupted: Path) -> None:
    full, cut = scan_file(clip), scan_file(interrupted)
    assert not cut.has_mfra and cut.complete_size < cut.media_size == interrupted.stat().st_size
    assert cut.fragment_count == full.fragment_count - 3  # the one cut through and the two after it are not
    assert list(cut.moof_offsets) == list(full.moof_offsets)[: cut.fragment_count]
    assert parse_mfra(build_mfra(cut)) == {
        track: entries[: cut.fragment_count] for track, entries in parse_mfra(build_mfra(full)).items()
    }


def test_the_view_holds_every_original_byte_in_order_and_seek_boxes_in_front(interrupted: Path) -> None:
    original = interrupted.read_bytes()
    index = scan_file(interrupted)
    view = replay_view(index)
    served = view_bytes(view, original)
    assert len(served) == view.size > len(original)
    assert without_insertions(view, served) == original
    sidx_boxes = next(p.data for p in view.pieces if isinstance(p, Inserted))
    first = parse_sidx(sidx_boxes)
    assert first[0] == index.tracks[0].track_id and len(first[3]) == index.fragment_count
    # The partial fragment stays, byte for byte, inside a free box the player skips; the mfra ends the view.
    tail = original[index.fragments_end :]
    assert served.index(b"free" + tail) > 0
    mfra = served[-trailing_mfra_size(served[-16:]) :]
    shift = len(sidx_boxes)
    assert [o for _, o in parse_mfra(mfra)[1]] == [o + shift for o in index.moof_offsets]
    assert all(served[o + 4 : o + 8] == b"moof" for _, o in parse_mfra(mfra)[1])


def _frame_at(source: bytes | str, seconds: float) -> tuple[float, bytes]:
    """Seek to `seconds` as a player does (to the keyframe at or before it), decode on to it: (time, picture)."""
    with av.open(io.BytesIO(source) if isinstance(source, bytes) else source) as container:
        stream = container.streams.video[0]
        container.seek(int(seconds / stream.time_base), stream=stream, backward=True)
        for frame in container.decode(stream):
            if frame.pts is not None and frame.pts * stream.time_base >= Fraction(seconds) - Fraction(1, 50):
                return float(frame.pts * stream.time_base), bytes(frame.planes[0])
    raise AssertionError(f"no frame at {seconds} s")


def test_ffmpeg_plays_and_seeks_the_interrupted_clip_s_view_like_the_complete_clip(
    clip: Path, interrupted: Path
) -> None:
    served = view_bytes(replay_view(scan_file(interrupted)), interrupted.read_bytes())
    for target in (2.0, 6.52, 8.96):  # late in what the cut clip still holds
        assert _frame_at(served, target) == _frame_at(str(clip), target)
    with av.open(io.BytesIO(served)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    assert frames == (SECONDS - 3) * 25  # the complete fragments; the partial one is kept but not played


def test_ranges_across_the_pieces_of_a_view() -> None:
    original = bytes(range(256)) * 4
    view = VirtualMedia([Original(0, 100), Inserted(b"SIDX"), Original(100, 1024), Inserted(b"MFRA")])
    whole = original[:100] + b"SIDX" + original[100:] + b"MFRA"

    def served(header: str, cap: int | None = None) -> tuple[int, bytes, dict[str, str]]:
        answer = answer_range(header, view.size, cap)
        span = view.original_span(answer.start, answer.end) if answer.length else None
        chunks = iter([original[span[0] : span[1] + 1]]) if span else iter(())
        body = b"".join(view.read(answer.start, answer.end, chunks)) if answer.length else b""
        return answer.status, body, answer.headers()

    assert served("") == (200, whole, {"Accept-Ranges": "bytes", "Content-Length": str(len(whole))})
    status, body, headers = served("bytes=98-105")
    assert (status, body, headers["Content-Range"]) == (206, whole[98:106], f"bytes 98-105/{len(whole)}")
    status, body, headers = served("bytes=-6")
    assert (status, body, headers["Content-Range"]) == (206, whole[-6:], f"bytes 1026-1031/{len(whole)}")
    status, body, headers = served("bytes=100-", cap=10)
    assert (status, body, headers["Content-Length"]) == (206, whole[100:110], "10")
    assert served("bytes=1030-99999")[1] == b"RA"
    status, _, headers = served(f"bytes={len(whole)}-")
    assert (status, headers["Content-Range"]) == (416, f"bytes */{len(whole)}")
    for bad in ("bytes=0-1,5-9", "items=0-9", "bytes=9-2"):
        with pytest.raises(RangeNotServed):
            answer_range(bad, view.size)


def test_what_is_not_an_mp4_is_not_indexed(tmp_path: Path) -> None:
    noise = tmp_path / "noise.bin"
    noise.write_bytes(bytes(range(256)) * 64)
    with pytest.raises(Mp4IndexError):
        scan_file(noise)
