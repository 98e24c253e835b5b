"""V4L2 cameras and ALSA microphones through PyAV, on machines that have them."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from branch_agent.sources.av_stream import AvStreamReader, StreamSettings
from branch_agent.sources.shared_feed import FeedAudioSource, FeedVideoSource
from branch_agent.sources.stream_target import FixedTarget, StreamTarget

V4L2_DEVICE = Path("/dev/video0")
ALSA_CARDS = Path("/proc/asound/cards")


def _has_alsa_capture() -> bool:
    return (
        ALSA_CARDS.exists() and "no soundcards" not in ALSA_CARDS.read_text() and any(Path("/dev/snd").glob("pcmC*c"))
    )


@pytest.mark.skipif(not V4L2_DEVICE.exists(), reason=f"no V4L2 camera here ({V4L2_DEVICE} does not exist)")
def test_v4l2_camera_delivers_pictures():
    target = StreamTarget(url=str(V4L2_DEVICE), display=str(V4L2_DEVICE), format="v4l2")
    source = FeedVideoSource("desk", AvStreamReader("desk", FixedTarget("v4l2", target), StreamSettings()))
    source.open()
    try:
        deadline = time.monotonic() + 15
        while source.latest_frame() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        frame = source.latest_frame()
        assert frame is not None, source.health().detail
        assert 0 <= time.monotonic_ns() - frame.pts_ns < 1_000_000_000
    finally:
        source.close()


@pytest.mark.skipif(not _has_alsa_capture(), reason="no ALSA capture device here (/dev/snd has no pcmC*c)")
def test_alsa_microphone_delivers_48k_mono():
    target = StreamTarget(
        url="default", display="alsa:default", format="alsa", options={"sample_rate": "48000", "channels": "1"}
    )
    settings = StreamSettings(want_video=False, want_audio=True)
    source = FeedAudioSource("mic", AvStreamReader("mic", FixedTarget("alsa", target), settings))
    source.open()
    try:
        time.sleep(2.0)
        chunks = source.read(1000)
        assert chunks, source.health().detail
        assert all(c.sample_rate == 48000 for c in chunks)
    finally:
        source.close()
