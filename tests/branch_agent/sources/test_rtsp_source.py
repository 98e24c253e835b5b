"""The PyAV stream source against a live RTSP camera played by GStreamer's RTSP server."""

from __future__ import annotations

import time

import numpy as np
import pytest

from branch_agent.sources import AudioSource, VideoSource
from branch_agent.sources.av_stream import AvStreamReader, StreamSettings
from branch_agent.sources.shared_feed import FeedAudioSource, FeedVideoSource
from branch_agent.sources.stream_target import FixedTarget, ReconnectPolicy, StreamTarget, rtsp_options
from branch_agent.sources.stream_urls import redact_url
from tests.peers.rtsp_peer import RtspPeer

FAST_RETRY = ReconnectPolicy(initial_s=0.25, max_s=1.0)


def _reader(
    url: str, transport: str = "tcp", audio: bool = True, policy: ReconnectPolicy = FAST_RETRY
) -> AvStreamReader:
    target = StreamTarget(url=url, display=redact_url(url), options=rtsp_options(transport, 5))
    settings = StreamSettings(want_audio=audio, open_timeout_s=5, read_timeout_s=3)
    return AvStreamReader("cam", FixedTarget("rtsp", target), settings, policy)


def _wait(predicate, timeout_s: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def _wait_health(source, predicate, what: str):
    def check():
        health = source.health()
        return health if predicate(health) else None

    return _wait(check, what=what)


@pytest.fixture(params=["tcp", "udp"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_camera_picture_and_sound_arrive_decoded_and_stamped_on_the_monotonic_clock(rtsp_camera, transport):
    reader = _reader(rtsp_camera.url, transport)
    video, audio = FeedVideoSource("env", reader), FeedAudioSource("env-mic", reader)
    assert isinstance(video, VideoSource) and isinstance(audio, AudioSource)
    video.open()
    audio.open()
    try:
        _wait(video.latest_frame, what="first picture")
        time.sleep(2.0)
        frame = video.latest_frame()
        now = time.monotonic_ns()
        assert (frame.width, frame.height) == (1280, 720)
        assert frame.u.shape == frame.v.shape == (360, 640)
        # Stamped when it was available here: not in the future, and not old.
        assert 0 <= now - frame.pts_ns < 500_000_000
        chunks = audio.read(1000)
        assert chunks, "no sound from the camera"
        assert all(c.sample_rate == 48000 and c.samples.dtype == np.int16 for c in chunks)
        # 8 kHz A-law resampled to 48 kHz, about two seconds of it, contiguous in time.
        total = sum(len(c.samples) for c in chunks)
        span = chunks[-1].pts_ns + chunks[-1].duration_ns - chunks[0].pts_ns
        assert abs(span - total * 1_000_000_000 // 48000) < 30_000_000
        # The 1 kHz test tone survives the trip: its spectrum peaks at 1 kHz.
        pcm = np.concatenate([c.samples for c in chunks]).astype(float)[:48000]
        peak_hz = np.argmax(np.abs(np.fft.rfft(pcm))) * 48000 / len(pcm)
        assert abs(peak_hz - 1000) < 10
        health = video.health()
        assert health.connected and health.kind == "rtsp" and health.detail == ""
        assert 20 <= health.fps <= 30
        assert health.bitrate_kbps > 10
        assert health.reconnects == 0
    finally:
        audio.close()
        video.close()
    assert not video.health().connected


def test_a_camera_that_dies_is_reported_and_reconnected_when_it_returns(rtsp_camera):
    source = FeedVideoSource("env", _reader(rtsp_camera.url, audio=False))
    source.open()
    try:
        _wait(source.latest_frame, what="first picture")
        rtsp_camera.kill()
        down = _wait_health(source, lambda h: not h.connected, "loss reported")
        assert "reconnecting" in down.detail and rtsp_camera.url in down.detail
        last = source.latest_frame()
        assert last is not None, "the last picture stays available while the camera is away"
        time.sleep(1.5)
        assert source.health().errors >= 2, "attempts go on while the camera is away"
        rtsp_camera.start()
        _wait(lambda: source.latest_frame().pts_ns > last.pts_ns, what="pictures after the camera came back")
        health = source.health()
        assert health.connected and health.reconnects == 1 and health.detail == ""
    finally:
        source.close()


def test_backoff_grows_and_is_capped():
    policy = ReconnectPolicy(initial_s=0.5, max_s=8.0)
    assert [policy.delay_s(n) for n in range(1, 8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    with pytest.raises(ValueError):
        ReconnectPolicy(initial_s=5, max_s=1)


def test_wrong_rtsp_credentials_are_named_in_the_health(gstreamer_rtsp):
    peer = RtspPeer("--user", "admin", "--password", "right-secret")
    peer.start()
    source = FeedVideoSource("env", _reader(f"rtsp://admin:wrong-secret@127.0.0.1:{peer.port}/cam", audio=False))
    source.open()
    try:
        health = _wait_health(source, lambda h: h.errors, "an error")
        assert not health.connected
        assert "401" in health.detail or "Unauthorized" in health.detail
        assert "wrong-secret" not in health.detail
    finally:
        source.close()
        peer.kill()
    good = FeedVideoSource("env", _reader(f"rtsp://admin:right-secret@127.0.0.1:{peer.port}/cam", audio=False))
    peer.start()
    good.open()
    try:
        _wait(good.latest_frame, what="a picture with the right password")
    finally:
        good.close()
        peer.kill()


def test_a_camera_without_sound_still_gives_its_picture_and_the_microphone_says_why(gstreamer_rtsp):
    peer = RtspPeer("--no-audio")
    peer.start()
    reader = _reader(peer.url, audio=True)
    video, mic = FeedVideoSource("env", reader), FeedAudioSource("env-mic", reader)
    video.open()
    mic.open()
    try:
        _wait(video.latest_frame, what="a picture")
        assert video.health().connected
        health = mic.health()
        assert not health.connected and "the camera sends no sound" in health.detail
    finally:
        mic.close()
        video.close()
        peer.kill()
    # A sound-only source (a microphone stream) without sound is a failure, retried.
    target = StreamTarget(url=peer.url, display=peer.url, options=rtsp_options("tcp", 5))
    settings = StreamSettings(want_video=False, want_audio=True, open_timeout_s=5, read_timeout_s=3)
    sound_only = FeedAudioSource("mic", AvStreamReader("mic", FixedTarget("rtsp", target), settings, FAST_RETRY))
    peer.start()
    sound_only.open()
    try:
        health = _wait_health(sound_only, lambda h: h.errors, "an error")
        assert "no audio stream" in health.detail
    finally:
        sound_only.close()
        peer.kill()


def test_open_and_close_racing_each_other_leave_one_reader(rtsp_camera):
    import threading

    reader = _reader(rtsp_camera.url, audio=False)
    video, other = FeedVideoSource("env", reader), FeedVideoSource("env-2", reader)
    video.open()
    _wait(video.latest_frame, what="a picture")
    closing = threading.Thread(target=video.close)
    closing.start()
    other.open()
    closing.join(timeout=30)
    try:
        assert not closing.is_alive(), "close hung while another user opened the stream"
        readers = [t for t in threading.enumerate() if t.name == "stream-cam"]
        assert len(readers) == 1
        last = other.latest_frame().pts_ns
        _wait(lambda: other.latest_frame().pts_ns > last, what="pictures still flowing")
    finally:
        other.close()
    assert not [t for t in threading.enumerate() if t.name == "stream-cam"]


def test_a_missing_device_is_reported_not_fatal(tmp_path):
    target = StreamTarget(url=str(tmp_path / "video7"), display="/dev/video7", format="v4l2")
    reader = AvStreamReader("desk", FixedTarget("v4l2", target), StreamSettings(open_timeout_s=2), FAST_RETRY)
    source = FeedVideoSource("desk", reader)
    source.open()
    try:
        health = _wait_health(source, lambda h: h.errors, "an error")
        assert not health.connected and "/dev/video7" in health.detail and "reconnecting" in health.detail
    finally:
        source.close()
