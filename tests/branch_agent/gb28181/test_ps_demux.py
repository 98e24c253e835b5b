"""The PS demuxer on what devices and FFmpeg send: split anywhere, with and without PSM, damaged."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

import av
import pytest

from branch_agent.gb28181.ps_demux import AccessUnit, PsDemuxer, guess_video_codec, is_key_frame
from tests.peers.gb_device.device_simulator import EncodedFrame, encode_test_audio, encode_test_video, interleave
from tests.peers.gb_device.ps_mux import PsMuxer, pack_header, pes_packets, program_stream_map

SPS = b"\x00\x00\x00\x01\x67\x42\xc0\x0d\xda"
PPS = b"\x00\x00\x00\x01\x68\xce\x0f\xc8"
IDR = b"\x00\x00\x01\x65\x88\x84" + bytes(range(1, 200))
P_SLICE = b"\x00\x00\x00\x01\x41\x9a" + bytes(range(1, 100))


@pytest.fixture(scope="module")
def media() -> list[EncodedFrame]:
    return interleave(encode_test_video(50), encode_test_audio(2.0))


def mux(frames: list[EncodedFrame], muxer: PsMuxer | None = None) -> bytes:
    m = muxer or PsMuxer("h264", "pcm_alaw")
    return b"".join(m.video(f.data, f.pts, f.key) if f.kind == "video" else m.audio(f.data, f.pts) for f in frames)


def demux_in_pieces(data: bytes, sizes: list[int], demuxer: PsDemuxer | None = None) -> list[AccessUnit]:
    d = demuxer or PsDemuxer()
    out: list[AccessUnit] = []
    pos, i = 0, 0
    while pos < len(data):
        n = sizes[i % len(sizes)]
        out += d.feed(data[pos : pos + n])
        pos, i = pos + n, i + 1
    return out + d.flush()


def decode_all(units: list[AccessUnit], use_parser: bool = False) -> int:
    ctx = av.CodecContext.create(units[0].codec, "r")
    frames = 0
    for u in units:
        packets = ctx.parse(u.data) if use_parser else [av.Packet(u.data)]
        for p in packets:
            frames += len(ctx.decode(p))
    if use_parser:
        for p in ctx.parse(b""):
            frames += len(ctx.decode(p))
    return frames + len(ctx.decode(None))


@pytest.mark.parametrize("sizes", [[1400], [1], [3, 1000, 7, 65536], [997, 13]])
def test_units_come_back_exactly_whatever_the_split(media: list[EncodedFrame], sizes: list[int]) -> None:
    units = demux_in_pieces(mux(media), sizes)
    # A video unit is only known complete at the next video PES (or the marker bit, see below),
    # so sound stamped after it may come out first: compare each stream on its own.
    for kind in ("video", "audio"):
        got = [(u.pts, u.data) for u in units if u.kind == kind]
        assert got == [(f.pts, f.data) for f in media if f.kind == kind]
    video = [u for u in units if u.kind == "video"]
    assert {u.codec for u in video} == {"h264"}
    assert [u.key_frame for u in video] == [f.key for f in media if f.kind == "video"]
    assert {u.codec for u in units if u.kind == "audio"} == {"pcm_alaw"}
    assert decode_all(video) == 50


def test_pack_stuffing_and_separate_dts(media: list[EncodedFrame]) -> None:
    m = PsMuxer("h264", None, pack_stuffing=6)
    first = media[0]
    data = m.video(first.data, 9000, True, dts=5400) + m.video(P_SLICE, 12600, False)
    d = PsDemuxer()
    units = d.feed(data) + d.flush()
    assert [(u.pts, u.dts) for u in units] == [(9000, 5400), (12600, 12600)]
    assert d.stats.packs == 2


def test_marker_bit_closes_the_frame_at_once() -> None:
    d = PsDemuxer()
    assert d.feed(PsMuxer().video(SPS + PPS + IDR, 3600, True)) == []  # another PES may follow
    units = d.end_of_frame()
    assert len(units) == 1 and units[0].data == SPS + PPS + IDR and units[0].key_frame


def test_timestamps_use_all_33_bits() -> None:
    d = PsDemuxer()
    units = d.feed(PsMuxer().video(SPS + IDR, (1 << 33) - 1, True)) + d.flush()
    assert units[0].pts == (1 << 33) - 1


def test_frame_larger_than_a_pes_is_joined() -> None:
    big = SPS + PPS + b"\x00\x00\x01\x65" + bytes([1, 2, 3, 4, 5]) * 40_000
    d = PsDemuxer()
    data = PsMuxer().video(big, 3600, True) + PsMuxer().video(P_SLICE, 7200, False)
    assert data.count(b"\x00\x00\x01\xe0") == 4 + 1  # 200 kB needs four PES, the P frame one
    units = demux_in_pieces(data, [1400], d)
    assert [u.data for u in units] == [big, P_SLICE]


def test_one_pes_per_nal_unit_with_the_same_pts_is_one_frame() -> None:
    pack = pack_header(0) + program_stream_map({0xE0: "h264"})
    pack += pes_packets(0xE0, SPS, 3600) + pes_packets(0xE0, PPS, 3600) + pes_packets(0xE0, IDR, 3600)
    pack += pack_header(3600) + pes_packets(0xE0, P_SLICE, 7200)
    d = PsDemuxer()
    units = d.feed(pack) + d.flush()
    assert [u.data for u in units] == [SPS + PPS + IDR, P_SLICE]


def test_without_psm_the_codecs_are_guessed() -> None:
    vps, sps, pps = (b"\x00\x00\x00\x01" + bytes([t, 1]) + b"\x0c\x01" for t in (0x40, 0x42, 0x44))
    hevc_idr = b"\x00\x00\x01\x26\x01\xaf\x01\x02\x03"
    adts = b"\xff\xf1\x50\x80\x02\x1f\xfc" + bytes(10)
    data = pack_header(0) + pes_packets(0xE0, vps + sps + pps + hevc_idr, 3600)
    data += pack_header(0) + pes_packets(0xC0, adts, 3600) + pack_header(0) + pes_packets(0xC1, b"\xd5" * 160, 3600)
    d = PsDemuxer()
    units = sorted(d.feed(data) + d.flush(), key=lambda u: (u.kind != "video", u.stream_id))
    assert [(u.kind, u.codec) for u in units] == [("video", "hevc"), ("audio", "aac"), ("audio", "pcm_alaw")]
    assert units[0].key_frame
    assert guess_video_codec(SPS + PPS + IDR) == "h264"
    assert guess_video_codec(b"\x00\x00\x01") is None


def test_psm_stream_types_win_over_guessing() -> None:
    data = pack_header(0) + program_stream_map({0xE0: "h264", 0xC0: "pcm_mulaw"})
    data += pes_packets(0xE0, SPS + IDR, 3600) + pack_header(0) + pes_packets(0xC0, b"\xff\xf1" + bytes(100), 3600)
    d = PsDemuxer()
    units = d.feed(data) + d.flush()
    assert sorted(u.codec for u in units) == ["h264", "pcm_mulaw"]


def test_unbounded_video_pes_ends_at_the_next_start_code() -> None:
    def unbounded(payload: bytes, pts: int) -> bytes:
        pes = pes_packets(0xE0, payload, pts)
        return pes[:4] + b"\x00\x00" + pes[6:]  # PES_packet_length 0, as some cameras send

    frame1, frame2 = SPS + PPS + IDR, P_SLICE
    data = pack_header(0) + unbounded(frame1, 3600) + pack_header(3600) + unbounded(frame2, 7200)
    units = demux_in_pieces(data, [5])
    assert [u.data for u in units] == [frame1, frame2]
    # Live, the marker bit ends the last one without waiting for the next pack.
    d = PsDemuxer()
    assert d.feed(pack_header(0) + unbounded(frame1, 3600)) == []
    assert [u.data for u in d.end_of_frame()] == [frame1]


def test_loss_drops_the_damaged_unit_and_video_until_the_next_key_frame(media: list[EncodedFrame]) -> None:
    data = mux(media)
    chunks = [data[i : i + 1400] for i in range(0, len(data), 1400)]
    d = PsDemuxer()
    units: list[AccessUnit] = []
    for i, chunk in enumerate(chunks):
        if i == 3:
            d.lost()  # chunk 3 never arrived
            continue
        units += d.feed(chunk)
    units += d.flush()
    video = [u for u in units if u.kind == "video"]
    keys = [f.pts for f in media if f.kind == "video" and f.key]
    assert video[0].pts == keys[0] and video[0].key_frame
    resumed = [u for u in video if u.pts > video[0].pts + 3600 * 3]
    assert resumed[0].pts == keys[1] and resumed[0].key_frame  # nothing in between the loss and here
    assert len(video) < 50 and d.stats.dropped_units >= 1 and d.stats.resyncs == 1
    audio_after_loss = [u for u in units if u.kind == "audio" and u.pts < keys[1]]
    assert len(audio_after_loss) > 10  # sound resumed at the next pack, not the next key frame
    assert decode_all(video) == len(video)


def test_garbage_and_broken_headers_do_not_stop_parsing(media: list[EncodedFrame]) -> None:
    rng = random.Random(5)
    noise = bytes(rng.randrange(256) for _ in range(3000)).replace(b"\x00\x00\x01", b"\x00\x01\x01")
    bad_psm = b"\x00\x00\x01\xbc\x00\x0a\x80\xff\xff\xff\x00\x40\x1b\xe0\xff\xff"
    data = noise + pack_header(0) + bad_psm + mux(media[:10])
    d = PsDemuxer()
    units = demux_in_pieces(data, [333], d)
    assert sorted(u.data for u in units) == sorted(f.data for f in media[:10])
    assert d.stats.skipped_bytes >= 3000


@pytest.mark.parametrize("container", ["vob", "mpeg"])
def test_reads_program_streams_made_by_ffmpeg(tmp_path: Path, container: str) -> None:
    # FFmpeg writes no PSM and cuts PES anywhere (several frames per PES, frames across packs):
    # the units are then PES-aligned, not frame-aligned, and a parser recovers the frames.
    out = tmp_path / f"out.{container}"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=25",
            "-t",
            "2",
            "-pix_fmt",
            "yuv420p",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
            "-profile:v",
            "baseline",
            "-g",
            "25",
            "-f",
            container,
            str(out),
        ],
        check=True,
        timeout=60,
    )
    units = demux_in_pieces(out.read_bytes(), [1400])
    assert units and all(u.kind == "video" and u.codec == "h264" for u in units)
    assert units[0].key_frame
    assert decode_all(units, use_parser=True) == 50


def test_key_frames_are_told_by_nal_type_then_by_the_psm() -> None:
    recovery_point = b"\x00\x00\x01\x06\x06\x01\xc4\x80"
    i_slice = b"\x00\x00\x01\x01\x88\x80"  # non-IDR slice NAL (type 1, nal_ref_idc 0)
    assert is_key_frame("h264", SPS + PPS + IDR) is True
    assert is_key_frame("h264", P_SLICE) is False
    assert is_key_frame("h264", recovery_point + i_slice) is True
    assert is_key_frame("hevc", b"\x00\x00\x01\x26\x01\xaf") is True  # IDR_W_RADL
    assert is_key_frame("hevc", b"\x00\x00\x01\x02\x01\xd0") is False  # TRAIL_R
    assert is_key_frame("h264", SPS + PPS) is None
    # Parameter sets alone in a unit: the PSM in front of them marks the key frame.
    d = PsDemuxer()
    data = PsMuxer().video(SPS + PPS, 3600, key=True) + PsMuxer().video(P_SLICE, 3600 * 2, key=False)
    units = d.feed(data) + d.flush()
    assert [u.key_frame for u in units] == [True, False]


def test_corrupted_streams_never_raise(media: list[EncodedFrame]) -> None:
    data = mux(media[:40])
    for seed in range(40):
        rng = random.Random(seed)
        damaged = bytearray(data)
        for _ in range(rng.randrange(1, 50)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        d = PsDemuxer()
        pos = 0
        while pos < len(damaged):
            n = rng.randrange(1, 3000)
            d.feed(bytes(damaged[pos : pos + n]))
            pos += n
            if rng.random() < 0.05:
                d.lost()
            if rng.random() < 0.3:
                d.end_of_frame()
        d.flush()
