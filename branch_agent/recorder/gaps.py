"""Keeping the recording's timeline continuous when sources are not, and saying where they were not.

The output runs on one clock. A camera that stops sending leaves its last picture repeated; a
microphone that stops leaves silence. Both are written into the evidence file to keep sound and
picture in sync, and both are reported as ``Gap`` entries so an auditor can tell a frozen picture or
a silent stretch from what really happened at the counter.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from branch_agent.sources.base import AudioChunk

_NS = 1_000_000_000
_NS_PER_MS = 1_000_000


@dataclass(frozen=True)
class Gap:
    """A stretch where ``source`` delivered nothing, in ms from the start of the recording."""

    source: str
    start_ms: int
    duration_ms: int


class VideoGapTracker:
    """Turns per-tick "is this camera's picture stale?" observations into ``Gap`` entries."""

    def __init__(self, origin_ns: int) -> None:
        self._origin_ns = origin_ns
        self._open: dict[str, int] = {}  # source -> gap start (monotonic ns)
        self._closed: list[Gap] = []

    def observe(self, source: str, frame_pts_ns: int | None, now_ns: int, stale: bool) -> None:
        if stale:
            if source not in self._open:
                # The picture froze when its last frame was captured, not when we noticed.
                start = frame_pts_ns if frame_pts_ns is not None else now_ns
                self._open[source] = max(start, self._origin_ns)
        elif source in self._open:
            # The first fresh frame's capture time is when the picture moved again.
            end = frame_pts_ns if frame_pts_ns is not None else now_ns
            self._close(source, self._open.pop(source), end)

    def open_sources(self) -> list[str]:
        return sorted(self._open)

    def finish(self, end_ns: int) -> list[Gap]:
        """Close gaps still open at the end of the recording and return all gaps in time order."""
        for source, start in sorted(self._open.items()):
            self._close(source, start, end_ns)
        self._open.clear()
        return sorted(self._closed, key=lambda g: (g.start_ms, g.source))

    def _close(self, source: str, start_ns: int, end_ns: int) -> None:
        start_ms = (start_ns - self._origin_ns) // _NS_PER_MS
        duration_ms = max(0, (end_ns - start_ns) // _NS_PER_MS)
        self._closed.append(Gap(source=source, start_ms=start_ms, duration_ms=duration_ms))


class AudioAligner:
    """Places microphone chunks on the recording's sample timeline and writes them contiguously.

    Sample ``k`` of the output belongs at ``origin + k / rate`` on the monotonic clock. A chunk
    whose timestamp lands later than the write position gets silence before it; one that lands
    earlier (overlap, or from before the recording started) is trimmed. Differences within
    ``jitter_samples`` are absorbed, so timestamp noise does not chop the sound into pieces.
    Silent stretches of at least ``gap_samples`` are reported as gaps of ``source``.
    """

    def __init__(
        self,
        source: str,
        sample_rate: int,
        origin_ns: int,
        write: Callable[[np.ndarray, int], None],
        jitter_samples: int,
        gap_samples: int,
    ) -> None:
        self.source = source
        self.sample_rate = sample_rate
        self._origin_ns = origin_ns
        self._write = write
        self._jitter = jitter_samples
        self._gap_samples = gap_samples
        self.position = 0  # next output sample index
        self.trimmed_samples = 0
        self._silence_start: int | None = None
        self._gaps: list[Gap] = []

    def sample_at(self, monotonic_ns: int) -> int:
        return (monotonic_ns - self._origin_ns) * self.sample_rate // _NS

    def push(self, chunk: AudioChunk, limit: int | None = None) -> None:
        """Write ``chunk`` at its place on the timeline, never past sample ``limit``."""
        if chunk.sample_rate != self.sample_rate:
            raise ValueError(
                f"{self.source}: chunk at {chunk.sample_rate} Hz but the recording is "
                f"{self.sample_rate} Hz; the source must deliver the recording's rate"
            )
        samples = chunk.samples
        start = self.sample_at(chunk.pts_ns)
        if start > self.position + self._jitter:
            self._silence(start - self.position)
        elif start < self.position - self._jitter:
            overlap = min(self.position - start, len(samples))
            self.trimmed_samples += overlap
            samples = samples[overlap:]
        if limit is not None and self.position + len(samples) > limit:
            keep = max(0, limit - self.position)
            self.trimmed_samples += len(samples) - keep
            samples = samples[:keep]
        if len(samples):
            self._end_silence()
            self._write(samples, self.position)
            self.position += len(samples)

    def fill_until(self, sample_index: int) -> None:
        """Write silence up to ``sample_index`` (exclusive) if real audio has not covered it."""
        if sample_index > self.position:
            self._silence(sample_index - self.position)

    def finish(self, end_sample: int) -> list[Gap]:
        """Pad to ``end_sample`` and return the microphone gaps."""
        self.fill_until(end_sample)
        self._end_silence()
        return list(self._gaps)

    def _silence(self, count: int) -> None:
        if self._silence_start is None:
            self._silence_start = self.position
        self._write(np.zeros(count, dtype=np.int16), self.position)
        self.position += count

    def _end_silence(self) -> None:
        start, self._silence_start = self._silence_start, None
        if start is None:
            return
        length = self.position - start
        if length >= self._gap_samples:
            self._gaps.append(
                Gap(
                    source=self.source,
                    start_ms=start * 1000 // self.sample_rate,
                    duration_ms=length * 1000 // self.sample_rate,
                )
            )
