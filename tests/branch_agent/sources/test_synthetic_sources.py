"""Synthetic camera and microphone behave like live sources: real-time, stamped, stallable."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest

from branch_agent.sources import (
    AudioChunk,
    AudioSource,
    SyntheticVideoSource,
    ToneAudioSource,
    VideoFrame,
    VideoSource,
)


def _wait_for_frame(source: SyntheticVideoSource, after_ns: int = 0) -> VideoFrame:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        frame = source.latest_frame()
        if frame is not None and frame.pts_ns > after_ns:
            return frame
        time.sleep(0.005)
    raise AssertionError(f"{source.name} produced no frame after {after_ns}")


@pytest.fixture
def camera():
    source = SyntheticVideoSource("cam", 640, 360, 25, "CAM 1", luma=90, chroma=(140, 120))
    source.open()
    yield source
    source.close()


def test_synthetic_sources_satisfy_the_source_protocols():
    assert isinstance(SyntheticVideoSource("v", 64, 32, 25, "x"), VideoSource)
    assert isinstance(ToneAudioSource("a"), AudioSource)


def test_camera_delivers_i420_frames_stamped_on_the_monotonic_clock(camera):
    before = time.monotonic_ns()
    frame = _wait_for_frame(camera, before)
    assert (frame.width, frame.height) == (640, 360)
    assert frame.u.shape == frame.v.shape == (180, 320)
    assert before < frame.pts_ns <= time.monotonic_ns()
    assert abs(float(frame.y.mean()) - 90) < 20
    assert int(frame.u[0, 0]) == 140 and int(frame.v[0, 0]) == 120


def test_camera_picture_moves(camera):
    first = _wait_for_frame(camera)
    later = _wait_for_frame(camera, first.pts_ns + 100_000_000)
    assert np.abs(first.y.astype(int) - later.y.astype(int)).mean() > 1.0


def test_paused_camera_keeps_its_last_picture_and_reports_its_age(camera):
    _wait_for_frame(camera)
    camera.pause()
    time.sleep(0.1)  # let a frame in production finish
    frozen = camera.latest_frame()
    time.sleep(0.4)
    assert camera.latest_frame() is frozen
    health = camera.health()
    assert health.connected and health.last_frame_age_s >= 0.4
    camera.resume()
    assert _wait_for_frame(camera, frozen.pts_ns) is not frozen


def test_stall_stops_the_camera_for_a_while_then_it_recovers(camera):
    _wait_for_frame(camera)
    camera.stall(0.5)
    stalled_at = time.monotonic_ns()
    time.sleep(0.1)
    frozen = camera.latest_frame()
    assert frozen.pts_ns <= stalled_at
    recovered = _wait_for_frame(camera, frozen.pts_ns)
    assert recovered.pts_ns - stalled_at >= 0.45e9


def test_frame_with_mismatched_chroma_is_rejected():
    y = np.zeros((4, 4), np.uint8)
    with pytest.raises(ValueError, match="chroma"):
        VideoFrame(y=y, u=np.zeros((4, 4), np.uint8), v=np.zeros((2, 2), np.uint8), pts_ns=0)


def test_tone_arrives_in_contiguous_real_time_chunks_at_the_requested_pitch():
    mic = ToneAudioSource("mic", frequency_hz=1000, sample_rate=48000, chunk_samples=480)
    opened = time.monotonic_ns()
    mic.open()
    try:
        time.sleep(0.6)
        chunks: list[AudioChunk] = mic.read(1000)
    finally:
        mic.close()
    assert 20 <= len(chunks) <= 70  # ~0.6 s of 10 ms chunks, never a burst of backlog
    for previous, current in itertools.pairwise(chunks):
        # Stamps follow the sample count: each chunk starts where the previous one ended.
        assert abs(current.pts_ns - (previous.pts_ns + previous.duration_ns)) <= 1
    assert opened <= chunks[0].pts_ns
    assert chunks[-1].pts_ns + chunks[-1].duration_ns <= time.monotonic_ns()
    signal = np.concatenate([c.samples for c in chunks]).astype(np.float64)
    spectrum = np.abs(np.fft.rfft(signal))
    peak_hz = np.argmax(spectrum) * 48000 / len(signal)
    assert abs(peak_hz - 1000) < 5
    # No clicks at chunk boundaries: the biggest step is that of a clean 1 kHz sine.
    assert np.abs(np.diff(signal)).max() <= 0.3 * 32767 * 2 * np.pi * 1000 / 48000 + 2


def test_read_returns_only_new_chunks_and_respects_max_chunks():
    mic = ToneAudioSource("mic", chunk_samples=480)
    mic.open()
    try:
        time.sleep(0.3)
        first = mic.read(5)
        rest = mic.read(1000)
        time.sleep(0.1)
        newer = mic.read(1000)
    finally:
        mic.close()
    assert len(first) == 5
    assert rest and rest[0].pts_ns > first[-1].pts_ns
    assert newer and newer[0].pts_ns > rest[-1].pts_ns


def test_paused_microphone_delivers_nothing_and_time_moves_on():
    mic = ToneAudioSource("mic", chunk_samples=480)
    mic.open()
    try:
        time.sleep(0.1)
        mic.pause()
        mic.read(1000)
        paused_at = time.monotonic_ns()
        time.sleep(0.3)
        assert mic.read(1000) == []
        mic.resume()
        time.sleep(0.1)
        after = mic.read(1000)
    finally:
        mic.close()
    assert after and after[0].pts_ns >= paused_at + 0.25e9
