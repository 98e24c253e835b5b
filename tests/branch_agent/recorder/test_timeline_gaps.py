"""Audio placement on the recording clock and gap bookkeeping, without real time."""

from __future__ import annotations

import numpy as np
import pytest

from branch_agent.recorder import AudioAligner, Gap, VideoGapTracker
from branch_agent.sources import AudioChunk

RATE = 48000
ORIGIN = 10_000_000_000  # arbitrary monotonic origin


def _chunk(start_sample: int, n: int = 480, value: int = 1000) -> AudioChunk:
    pts = ORIGIN + start_sample * 1_000_000_000 // RATE
    return AudioChunk(samples=np.full(n, value, np.int16), sample_rate=RATE, pts_ns=pts)


class Sink:
    def __init__(self) -> None:
        self.samples = np.empty(0, np.int16)

    def __call__(self, samples: np.ndarray, pts: int) -> None:
        assert pts == len(self.samples), "writes must be contiguous"
        self.samples = np.concatenate((self.samples, samples))


class CountingSink:
    """Keeps only what long runs need: how much was written and the smallest sample."""

    def __init__(self) -> None:
        self.written = 0
        self.smallest = np.iinfo(np.int16).max

    def __call__(self, samples: np.ndarray, pts: int) -> None:
        assert pts == self.written, "writes must be contiguous"
        self.written += len(samples)
        self.smallest = min(self.smallest, int(samples.min()))


def _aligner(sink: Sink | CountingSink) -> AudioAligner:
    return AudioAligner("mic", RATE, ORIGIN, sink, jitter_samples=960, gap_samples=RATE)


def test_audio_from_before_the_start_is_dropped_and_the_rest_kept():
    sink = Sink()
    aligner = _aligner(sink)
    aligner.push(_chunk(-2000, 480))  # wholly before the recording
    aligner.push(_chunk(-1440, 2000))  # straddles the start by more than the jitter allowance
    aligner.advance(limit=RATE, silence_until=0)
    assert len(sink.samples) == 560 and sink.samples.min() == 1000
    assert aligner.trimmed_samples == 480 + 1440


def test_late_audio_gets_silence_in_front_so_it_plays_at_its_time():
    sink = Sink()
    aligner = _aligner(sink)
    aligner.push(_chunk(0))
    aligner.push(_chunk(RATE * 2))  # 2 s later: the microphone dropped out
    aligner.advance(limit=RATE * 3, silence_until=0)
    assert len(sink.samples) == RATE * 2 + 480
    assert not sink.samples[480 : RATE * 2].any()
    assert sink.samples[-480:].min() == 1000
    gaps = aligner.finish(RATE * 3)
    assert gaps == [Gap("mic", start_ms=10, duration_ms=1990)]  # the short tail pad is no gap
    assert len(sink.samples) == RATE * 3


def test_missing_audio_becomes_silence_only_once_it_is_overdue():
    sink = Sink()
    aligner = _aligner(sink)
    aligner.advance(limit=RATE, silence_until=RATE // 2)
    assert len(sink.samples) == RATE // 2 and not sink.samples.any()
    aligner.push(_chunk(RATE // 4))  # arrived late: that time is already silence
    aligner.advance(limit=RATE, silence_until=0)
    assert len(sink.samples) == RATE // 2 and aligner.trimmed_samples == 480


def test_small_timestamp_jitter_is_absorbed_without_padding_or_trimming():
    sink = Sink()
    aligner = _aligner(sink)
    for k in range(10):
        wobble = 300 if k % 2 else -300  # ±6 ms around the nominal position
        aligner.push(_chunk(k * 480 + wobble if k else 0))
    aligner.advance(limit=RATE, silence_until=0)
    # Nothing cut, no silence inserted; at most one sample per chunk stretched or squeezed.
    assert abs(len(sink.samples) - 4800) <= 10 and sink.samples.min() == 1000
    assert aligner.trimmed_samples == 0 and aligner.steered_samples <= 10
    assert aligner.finish(4800) == []


@pytest.mark.parametrize("ppm", [-300, 300])
def test_microphone_clock_drift_is_steered_out_without_cuts_or_silence(ppm):
    # A sound card whose crystal is `ppm` off delivers 1024-sample chunks stamped with their true
    # capture time; over ten minutes that is 180 ms of drift, which must not reach the file.
    sink = CountingSink()
    aligner = _aligner(sink)
    device_rate = RATE * (1 + ppm * 1e-6)
    chunk = 1024
    tone = (np.sin(np.arange(chunk) * 0.3) * 8000).astype(np.int16) + 9000
    captured = 0
    errors_ms = []
    for _ in range(int(600 * device_rate / chunk)):
        pts = ORIGIN + round(captured / device_rate * 1e9)
        aligner.push(AudioChunk(samples=tone.copy(), sample_rate=RATE, pts_ns=pts))
        captured += chunk
        real_now = round(captured / device_rate * RATE)
        aligner.advance(limit=real_now, silence_until=real_now - RATE // 2)
        # Where the file has got to, against where the device really is: the sync error.
        errors_ms.append((aligner.position - real_now) * 1000 / RATE)
    assert aligner.trimmed_samples == 0
    assert sink.smallest > 0  # never a padded (zero) sample: no silence was inserted
    assert max(abs(e) for e in errors_ms[len(errors_ms) // 10 :]) < 5
    assert aligner.steered_samples >= abs(ppm) * 600 * RATE * 1e-6 * 0.9


def test_audio_never_runs_ahead_of_the_limit_and_the_rest_follows_on():
    sink = Sink()
    aligner = _aligner(sink)
    aligner.push(_chunk(0, 4800, value=7))
    aligner.advance(limit=1920, silence_until=1920)
    assert len(sink.samples) == 1920
    aligner.advance(limit=3840, silence_until=3840)
    assert len(sink.samples) == 3840 and sink.samples.min() == 7  # no silence slipped in
    assert aligner.finish(4000) == []
    assert len(sink.samples) == 4000 and aligner.trimmed_samples == 800


def test_video_gap_runs_from_the_last_real_frame_to_the_next_one():
    tracker = VideoGapTracker(ORIGIN)
    ms = 1_000_000
    tracker.observe("env", ORIGIN + 500 * ms, ORIGIN + 1600 * ms, stale=True)
    tracker.observe("env", ORIGIN + 500 * ms, ORIGIN + 2000 * ms, stale=True)
    assert tracker.open_sources() == ["env"]
    tracker.observe("env", ORIGIN + 2300 * ms, ORIGIN + 2310 * ms, stale=False)
    tracker.observe("desk", ORIGIN + 3000 * ms, ORIGIN + 4500 * ms, stale=True)
    assert tracker.finish(ORIGIN + 5000 * ms) == [
        Gap("env", start_ms=500, duration_ms=1800),
        Gap("desk", start_ms=3000, duration_ms=2000),
    ]
