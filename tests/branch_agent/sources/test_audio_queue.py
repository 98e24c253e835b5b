"""Sound waiting for the recorder: bounded by duration, overruns counted only while someone reads."""

from __future__ import annotations

import numpy as np
import pytest

from branch_agent.sources.audio_queue import AudioQueue
from branch_agent.sources.base import AudioChunk

RATE = 8000
MS = 1_000_000


def chunk(at_ms: int, samples: int = 800) -> AudioChunk:
    return AudioChunk(np.full(samples, at_ms % 30000, dtype=np.int16), RATE, at_ms * MS)


def test_idle_microphone_keeps_only_the_newest_sound_and_reports_no_overrun() -> None:
    queue = AudioQueue(RATE, max_seconds=1.0)
    for i in range(50):  # five seconds of 100 ms chunks with nobody reading
        queue.put(chunk(i * 100), now_ns=i * 100 * MS)
    kept = queue.take(100, now_ns=5000 * MS)
    assert [c.pts_ns // MS for c in kept] == list(range(4000, 5000, 100))
    assert queue.overruns == 0


def test_recorder_falling_behind_loses_the_oldest_sound_and_it_is_counted() -> None:
    queue = AudioQueue(RATE, max_seconds=1.0)
    queue.take(10, now_ns=0)  # a recorder started reading
    for i in range(15):
        queue.put(chunk(i * 100), now_ns=i * 100 * MS + 1)
        if i < 3:
            queue.take(10, now_ns=i * 100 * MS + 2)
    # Reads stopped after 300 ms; two seconds later the reader counts as gone and drops are quiet again.
    assert queue.overruns == 2
    for i in range(15, 40):
        queue.put(chunk(i * 100), now_ns=i * 100 * MS + 1)
    # Counted up to 2 s after the last read (at 0.2 s): the drops at 1.5 .. 2.2 s, none after.
    assert queue.overruns == 2 + 8


def test_one_chunk_longer_than_the_limit_is_kept_whole() -> None:
    queue = AudioQueue(RATE, max_seconds=0.05)
    queue.put(chunk(0, samples=RATE), now_ns=0)
    (only,) = queue.take(5, now_ns=1)
    assert len(only.samples) == RATE


def test_take_returns_in_order_and_at_most_the_asked_number() -> None:
    queue = AudioQueue(RATE, max_seconds=10)
    for i in range(5):
        queue.put(chunk(i * 100), now_ns=0)
    assert [c.pts_ns // MS for c in queue.take(2, now_ns=0)] == [0, 100]
    assert [c.pts_ns // MS for c in queue.take(9, now_ns=0)] == [200, 300, 400]
    assert queue.take(9, now_ns=0) == []


@pytest.mark.parametrize(("rate", "seconds"), [(0, 1.0), (RATE, 0.0)])
def test_nonsense_sizes_are_refused(rate: int, seconds: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        AudioQueue(rate, seconds)
