"""Our PS (what the simulator sends, like a GB/T 28181 camera) is accepted by FFmpeg's demuxer.

Stock FFmpeg ignores the PSM stream type 0x90 (G.711 A-law, GB/T 28181's default audio) and takes
stream 0xC0 for MPEG audio, unless the data starts with Hikvision's "IMKH" file header; so the
sound is checked on the same stream behind such a header, as Hikvision recordings carry it.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.peers.gb_device.device_simulator import EncodedFrame, encode_test_audio, encode_test_video, interleave
from tests.peers.gb_device.ps_mux import PsMuxer, _crc32_mpeg, program_stream_map

IMKH = b"IMKH" + bytes(36)


@pytest.fixture(scope="module")
def program_stream() -> bytes:
    frames: list[EncodedFrame] = interleave(encode_test_video(50), encode_test_audio(2.0))
    m = PsMuxer("h264", "pcm_alaw")
    return b"".join(m.video(f.data, f.pts, f.key) if f.kind == "video" else m.audio(f.data, f.pts) for f in frames)


def ffprobe(path: Path) -> list[dict[str, object]]:
    result = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-f",
            "mpeg",
            "-count_frames",
            "-show_entries",
            "stream=codec_name,width,height,sample_rate,channels,nb_read_frames",
            "-of",
            "json",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return sorted(json.loads(result.stdout)["streams"], key=lambda s: str(s["codec_name"]))


def ffmpeg_decode(path: Path, *maps: str) -> subprocess.CompletedProcess[str]:
    args = [a for m in maps for a in ("-map", m)]
    return subprocess.run(
        ["ffmpeg", "-v", "error", "-xerror", "-f", "mpeg", "-i", str(path), *args, "-f", "null", "-"],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_ffmpeg_finds_and_decodes_the_h264_video(tmp_path: Path, program_stream: bytes) -> None:
    path = tmp_path / "camera.ps"
    path.write_bytes(program_stream)
    video = [s for s in ffprobe(path) if s["codec_name"] == "h264"]
    assert len(video) == 1
    assert (video[0]["width"], video[0]["height"], int(str(video[0]["nb_read_frames"]))) == (320, 240, 50)
    result = ffmpeg_decode(path, "0:v")
    # Only the audio probe complains here ("[mp2] Header missing"): see the module docstring.
    assert result.returncode == 0
    assert [line for line in result.stderr.splitlines() if "[mp2 @" not in line] == []


def test_ffmpeg_decodes_video_and_g711a_audio_behind_an_imkh_header(tmp_path: Path, program_stream: bytes) -> None:
    path = tmp_path / "camera.ps"
    path.write_bytes(IMKH + program_stream)
    streams = ffprobe(path)
    assert [s["codec_name"] for s in streams] == ["h264", "pcm_alaw"]
    h264, alaw = streams
    assert (h264["width"], h264["height"], int(str(h264["nb_read_frames"]))) == (320, 240, 50)
    assert (alaw["sample_rate"], alaw["channels"], int(str(alaw["nb_read_frames"]))) == ("8000", 1, 50)
    result = ffmpeg_decode(path)
    assert result.returncode == 0 and result.stderr == ""


def test_psm_carries_stream_types_and_a_valid_crc() -> None:
    assert _crc32_mpeg(b"123456789") == 0x0376E6E7  # the CRC-32/MPEG-2 check value
    psm = program_stream_map({0xE0: "h264", 0xC0: "pcm_alaw"})
    assert psm[:4] == b"\x00\x00\x01\xbc" and int.from_bytes(psm[4:6], "big") == len(psm) - 6
    assert bytes([0x1B, 0xE0, 0, 0, 0x90, 0xC0, 0, 0]) in psm
    # A CRC over everything including itself leaves zero.
    assert _crc32_mpeg(psm) == 0


def test_ffmpeg_reads_h265_and_aac_from_the_psm(tmp_path: Path) -> None:
    # Stream types 0x24 and 0x0F are standard: FFmpeg takes them from our PSM without help.
    frames = interleave(encode_test_video(25, codec="hevc"), encode_test_audio(1.0, codec="aac"))
    m = PsMuxer("hevc", "aac")
    path = tmp_path / "camera.ps"
    path.write_bytes(
        b"".join(m.video(f.data, f.pts, f.key) if f.kind == "video" else m.audio(f.data, f.pts) for f in frames)
    )
    aac, hevc = ffprobe(path)
    assert (hevc["codec_name"], hevc["width"], hevc["height"], int(str(hevc["nb_read_frames"]))) == (
        "hevc",
        320,
        240,
        25,
    )
    assert (aac["codec_name"], aac["sample_rate"], aac["channels"]) == ("aac", "8000", 1)
    result = ffmpeg_decode(path)
    assert result.returncode == 0 and result.stderr == ""
