"""The MP4 writer: fragmented, durable per fragment, never overwriting evidence."""

from __future__ import annotations

import av
import numpy as np
import pytest

from branch_agent.recorder import EncoderSettings, FragmentedMp4Writer, ThreadedMp4Writer, mp4_writer
from tests.branch_agent.recorder.mp4_boxes import top_level_boxes


def _write_clip(writer, seconds: float) -> None:
    w, h = writer.width, writer.height
    ramp = (np.arange(2 * w) % 256).astype(np.uint8)
    u = np.full((h // 2, w // 2), 110, np.uint8)
    v = np.full((h // 2, w // 2), 150, np.uint8)
    per_frame = writer.settings.sample_rate // writer.settings.fps
    t = np.arange(per_frame)
    for n in range(int(seconds * writer.settings.fps)):
        y = np.broadcast_to(ramp[n * 4 : n * 4 + w], (h, w))
        writer.write_video(y, u, v, n)
        tone = (8000 * np.sin(2 * np.pi * 440 * (t + n * per_frame) / 48000)).astype(np.int16)
        writer.write_audio(tone, n * per_frame)


@pytest.mark.parametrize("writer_class", [FragmentedMp4Writer, ThreadedMp4Writer])
def test_each_fragment_is_fsynced_and_the_file_plays(tmp_path, monkeypatch, writer_class):
    synced = []
    real_fsync = mp4_writer.os.fsync
    monkeypatch.setattr(mp4_writer.os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    path = tmp_path / "clip.mp4"
    writer = writer_class(path, EncoderSettings(), 640, 360)
    _write_clip(writer, 3.0)
    writer.close()
    boxes = top_level_boxes(path)
    assert boxes[:2] == ["ftyp", "moov"]
    assert boxes.count("moof") == 3  # one per 1 s GOP
    assert len(synced) >= boxes.count("moof")
    with av.open(str(path)) as container:
        frames = list(container.decode(video=0))
    assert len(frames) == 75
    assert all(f.key_frame == (i % 25 == 0) for i, f in enumerate(frames))


def test_existing_file_is_never_overwritten(tmp_path):
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"earlier evidence")
    with pytest.raises(FileExistsError):
        FragmentedMp4Writer(path, EncoderSettings(), 640, 360)
    assert path.read_bytes() == b"earlier evidence"


def test_audio_with_a_hole_is_refused(tmp_path):
    writer = FragmentedMp4Writer(tmp_path / "clip.mp4", EncoderSettings(), 640, 360)
    writer.write_audio(np.zeros(1000, np.int16), 0)
    with pytest.raises(ValueError, match="contiguous"):
        writer.write_audio(np.zeros(1000, np.int16), 1500)
    writer.close()
