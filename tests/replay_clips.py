"""Clips in the recorder's layout for the replay tests and benchmark: made by the real recorder, or by
ffmpeg with the same fragmenting, and cut off mid-fragment as a crash leaves them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np

from branch_agent.recorder import EncoderSettings, FragmentedMp4Writer
from storage.virtual_media import Original, VirtualMedia

FFMPEG = shutil.which("ffmpeg")
MOVFLAGS = "frag_keyframe+empty_moov+default_base_moof"  # as branch_agent/recorder/mp4_writer.py


def recorder_clip(path: Path, seconds: int, width: int = 320, height: int = 240) -> Path:
    """A clip from the real recorder's writer: a moving ramp (each frame differs) and a tone, 1 s fragments."""
    writer = FragmentedMp4Writer(path, EncoderSettings(bitrate=800_000, preset="ultrafast"), width, height)
    ramp = (np.arange(4 * width) % 256).astype(np.uint8)
    u = np.full((height // 2, width // 2), 110, np.uint8)
    v = np.full((height // 2, width // 2), 150, np.uint8)
    per_frame = writer.settings.sample_rate // writer.settings.fps
    t = np.arange(per_frame)
    for n in range(seconds * writer.settings.fps):
        y = np.broadcast_to(ramp[(n * 3) % (2 * width) :][:width], (height, width))
        writer.write_video(y, u, v, n)
        tone = (8000 * np.sin(2 * np.pi * 440 * (t + n * per_frame) / 48000)).astype(np.int16)
        writer.write_audio(tone, n * per_frame)
    writer.close()
    return path


def ffmpeg_clip(path: Path, seconds: int, size: str = "320x180", bitrate: str = "300k", grain: bool = False) -> Path:
    """A test-pattern clip with sound, fragmented as the recorder does (1 s GOPs, empty moov, moof-based).

    With `grain` the picture is noisy like a camera's, so the clip really has `bitrate` (small pictures
    encode fast, and the fragments are as large as a 1080p recording's)."""
    assert FFMPEG, "ffmpeg is needed"
    subprocess.run(
        [
            FFMPEG,
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size={size}:rate=25" + (",noise=alls=80:allf=t" if grain else ""),
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000",
            "-t",
            str(seconds),
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-b:v",
            bitrate,
            "-maxrate",
            bitrate,
            "-bufsize",
            bitrate,
            "-g",
            "25",
            "-keyint_min",
            "25",
            "-sc_threshold",
            "0",
            "-bf",
            "0",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-ac",
            "1",
            "-b:a",
            "64k",
            "-movflags",
            MOVFLAGS,
            str(path),
        ],
        check=True,
        timeout=300,
    )
    return path


def fragment_offsets(data: bytes) -> list[int]:
    """Offsets of the top-level moof boxes."""
    offsets, pos = [], 0
    while pos + 8 <= len(data):
        size, kind = int.from_bytes(data[pos : pos + 4], "big"), data[pos + 4 : pos + 8]
        if kind == b"moof":
            offsets.append(pos)
        if size < 8:
            break
        pos += size
    return offsets


def cut_mid_fragment(source: Path, dest: Path, fragments_from_end: int = 3) -> bytes:
    """A copy cut off in the middle of a fragment's media data, as a power cut leaves a clip: no mfra,
    and a last fragment that is only partly there. Returns the cut bytes."""
    data = source.read_bytes()
    moofs = fragment_offsets(data)
    start, end = moofs[-fragments_from_end], moofs[-fragments_from_end + 1]
    cut = data[: start + (end - start) * 2 // 3]
    dest.write_bytes(cut)
    return cut


def view_bytes(view: VirtualMedia, original: bytes) -> bytes:
    """The whole view, as a player receives it."""
    return b"".join(original[p.start : p.end] if isinstance(p, Original) else p.data for p in view.pieces)


def without_insertions(view: VirtualMedia, served: bytes) -> bytes:
    """What is left of served view bytes once the inserted pieces are taken out: the original, if nothing moved."""
    out, pos = bytearray(), 0
    for piece in view.pieces:
        length = piece.end - piece.start if isinstance(piece, Original) else len(piece.data)
        if isinstance(piece, Original):
            out += served[pos : pos + length]
        pos += length
    return bytes(out)
