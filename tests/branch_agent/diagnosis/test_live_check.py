"""Live diagnosis of real network cameras (GStreamer's RTSP server): a moving picture, a still one
(colour bars, as a hung camera sends), a camera that goes away, and the first healthy picture kept as
the reference the next ones are compared with."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np

from branch_agent.counter.sources import CounterSources
from branch_agent.diagnosis.live_check import LiveCheck, LiveCheckSettings
from branch_agent.sources.av_stream import AvStreamReader, StreamSettings
from branch_agent.sources.shared_feed import FeedVideoSource
from branch_agent.sources.stream_target import FixedTarget, ReconnectPolicy, StreamTarget, rtsp_options
from branch_agent.sources.synthetic import SyntheticVideoSource, ToneAudioSource
from tests.peers.rtsp_peer import RtspPeer

SETTINGS = LiveCheckSettings(interval_s=3600, probe_s=0.5, stale_after_s=1.5)


def _camera(url: str) -> FeedVideoSource:
    target = StreamTarget(url=url, display=url, options=rtsp_options("tcp", 5))
    reader = AvStreamReader(
        "env",
        FixedTarget("rtsp", target),
        StreamSettings(want_audio=False, open_timeout_s=5, read_timeout_s=3),
        ReconnectPolicy(initial_s=0.25, max_s=1.0),
    )
    return FeedVideoSource("env", reader)


def _counter(environment: FeedVideoSource) -> CounterSources:
    return CounterSources(environment, SyntheticVideoSource("desk", 640, 360, 10), ToneAudioSource("mic"))


def _until_picture(source: FeedVideoSource) -> None:
    deadline = time.monotonic() + 20
    while source.latest_frame() is None:
        assert time.monotonic() < deadline, "the RTSP camera sent no picture"
        time.sleep(0.05)


def test_a_still_picture_is_frozen_a_moving_one_is_not_and_a_lost_camera_is_signal_loss(
    tmp_path: Path, rtsp_camera: RtspPeer
) -> None:
    bars = RtspPeer("--pattern", "smpte100", "--no-audio")
    bars.start()
    moving, still = _camera(rtsp_camera.url), _camera(bars.url)
    counters = {"C01": _counter(moving), "C02": _counter(still)}
    for c in counters.values():
        c.open()
    try:
        _until_picture(moving)
        _until_picture(still)
        check = LiveCheck(SETTINGS, tmp_path, lambda: counters)
        results = check.run()
        assert "frozen" not in results[("C01", "environment")].findings
        assert "frozen" in results[("C02", "environment")].findings
        # The desk cameras show a generated picture: nothing wrong with it.
        assert results[("C01", "desk")].findings == []
        shot = results[("C01", "environment")].snapshot_jpeg
        picture = cv2.imdecode(np.frombuffer(shot, np.uint8), cv2.IMREAD_COLOR)
        assert picture is not None and picture.shape[1] == SETTINGS.snapshot_width and len(shot) <= 24_000
        assert check.for_counter("C02")["environment"] is results[("C02", "environment")]

        # The admin takes the bars as the reference: the same picture again has not moved.
        again = check.set_reference("C02", "environment")
        assert (tmp_path / "diagnosis" / "C02-environment.npz").exists() and again.reference_at is not None
        assert "moved" not in again.findings and again.moved_px is not None and again.moved_px < 1
        assert again.reference_match is None or again.reference_match > 0.9

        bars.kill()
        deadline = time.monotonic() + 20
        while still.health().last_frame_age_s is not None and still.health().last_frame_age_s < 2:  # type: ignore[operator]
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert check.run("C02")[("C02", "environment")].findings == ["signal_loss"]
    finally:
        for c in counters.values():
            c.close()
        bars.kill()
