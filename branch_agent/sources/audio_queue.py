"""Decoded sound waiting for the recorder, bounded by duration rather than by chunk count."""

from __future__ import annotations

import collections

from branch_agent.sources.base import AudioChunk

_NS = 1_000_000_000
# Drops within this window count as "now": long enough to see between two looks at the status page.
RECENT_NS = 60 * _NS


class AudioQueue:
    """Not thread-safe: the owning source guards it with its lock.

    Microphones stay open between recordings so their status is always known, but nobody reads them
    then; old sound is dropped quietly while idle. Only sound dropped while a recorder is reading
    (it fell behind by ``max_seconds``) is an overrun worth reporting.
    """

    def __init__(self, sample_rate: int, max_seconds: float, reader_idle_s: float = 2.0) -> None:
        if sample_rate <= 0 or max_seconds <= 0:
            raise ValueError("sample_rate and max_seconds must be positive")
        self._max_samples = int(sample_rate * max_seconds)
        self._idle_ns = int(reader_idle_s * _NS)
        self._chunks: collections.deque[AudioChunk] = collections.deque()
        self._samples = 0
        self._last_read_ns: int | None = None
        self.overruns = 0
        self._overrun_times: collections.deque[int] = collections.deque()

    def put(self, chunk: AudioChunk, now_ns: int) -> None:
        self._chunks.append(chunk)
        self._samples += len(chunk.samples)
        reading = self._last_read_ns is not None and now_ns - self._last_read_ns <= self._idle_ns
        while self._samples > self._max_samples and len(self._chunks) > 1:
            self._samples -= len(self._chunks.popleft().samples)
            if reading:
                self.overruns += 1
                self._overrun_times.append(now_ns)
        self._trim(now_ns)

    def take(self, max_chunks: int, now_ns: int) -> list[AudioChunk]:
        self._last_read_ns = now_ns
        out: list[AudioChunk] = []
        while self._chunks and len(out) < max_chunks:
            chunk = self._chunks.popleft()
            self._samples -= len(chunk.samples)
            out.append(chunk)
        return out

    def recent_overruns(self, now_ns: int) -> int:
        self._trim(now_ns)
        return len(self._overrun_times)

    def _trim(self, now_ns: int) -> None:
        while self._overrun_times and now_ns - self._overrun_times[0] > RECENT_NS:
            self._overrun_times.popleft()

    def clear(self) -> None:
        self._chunks.clear()
        self._samples = 0
