"""A clip recorded from a live RTSP camera survives the camera going away: a gap, not an end."""

from __future__ import annotations

import time
from datetime import datetime

import av
import pytest

from branch_agent.recorder import (
    EncoderSettings,
    OverlayRenderer,
    OverlayText,
    PipCompositor,
    PipLayout,
    RecordingEngine,
)
from branch_agent.sources import SyntheticVideoSource
from branch_agent.sources.av_stream import AvStreamReader, StreamSettings
from branch_agent.sources.shared_feed import FeedAudioSource, FeedVideoSource
from branch_agent.sources.stream_target import FixedTarget, ReconnectPolicy, StreamTarget, rtsp_options


def _overlay(now: datetime) -> OverlayText:
    return OverlayText([now.strftime("%H:%M:%S"), "RTSP"])


@pytest.mark.slow
def test_killing_the_camera_mid_recording_leaves_a_gap_and_the_recording_goes_on(rtsp_camera, tmp_path, cjk_font):
    target = StreamTarget(url=rtsp_camera.url, display=rtsp_camera.url, options=rtsp_options("tcp", 5))
    reader = AvStreamReader(
        "env",
        FixedTarget("rtsp", target),
        StreamSettings(want_audio=True, open_timeout_s=5, read_timeout_s=3),
        ReconnectPolicy(initial_s=0.25, max_s=1.0),
    )
    env, mic = FeedVideoSource("env-cam", reader), FeedAudioSource("env-mic", reader)
    desk = SyntheticVideoSource("desk-cam", 320, 256, 25, "DESK")
    layout = PipLayout(output_width=640, output_height=360, inset_width=160, inset_height=128, margin=8)
    for s in (env, mic, desk):
        s.open()
    try:
        engine = RecordingEngine(
            env,
            desk,
            mic,
            PipCompositor(layout),
            OverlayRenderer(cjk_font, 16),
            _overlay,
            tmp_path / "clip.mp4",
            EncoderSettings(),
        )
        engine.start()
        origin = time.monotonic()
        time.sleep(2.0)
        rtsp_camera.kill()
        killed_at = time.monotonic() - origin
        time.sleep(2.0)
        assert engine.status().running and "env-cam" in engine.status().stalled_sources
        rtsp_camera.start()
        last = env.latest_frame().pts_ns
        deadline = time.monotonic() + 20
        while env.latest_frame().pts_ns == last and time.monotonic() < deadline:
            time.sleep(0.02)
        back_at = time.monotonic() - origin
        time.sleep(2.0)
        result = engine.stop()
    finally:
        for s in (env, mic, desk):
            s.close()

    assert back_at < 15, "the camera came back within the backoff"
    env_gaps = [g for g in result.gaps if g.source == "env-cam"]
    assert len(env_gaps) == 1
    gap = env_gaps[0]
    # The picture froze when the server was killed and moved again when it came back.
    assert abs(gap.start_ms / 1000 - killed_at) < 1.0
    assert abs((gap.start_ms + gap.duration_ms) / 1000 - back_at) < 1.0
    assert any(g.source == "env-mic" for g in result.gaps), "the camera's sound was away too"
    # One continuous clip from start to stop: every slot written, sound and picture as long.
    assert result.duration_ms / 1000 > back_at + 1.5
    assert abs(result.video_frames - result.duration_ms * 25 / 1000) <= 2 + result.dropped_ticks
    with av.open(str(result.path)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    assert frames == result.video_frames
