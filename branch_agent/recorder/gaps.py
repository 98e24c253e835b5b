"""Keeping the recording's timeline continuous when sources are not, and saying where they were not.

The output runs on one clock. A camera that stops sending leaves its last picture repeated; a
microphone that stops leaves silence. Both are written into the evidence file to keep sound and
picture in sync, and both are reported as ``Gap`` entries so an auditor can tell a frozen picture or
a silent stretch from what really happened at the counter.
"""

from __future__ import annotations

import collections
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
    ``jitter_samples`` are not cut or padded, so timestamp noise does not chop the sound into
    pieces; they are worked off gradually instead (see ``_steer``).
    Audio is only written up to the ``limit`` given to ``advance`` (the end of the video written
    so far); the rest waits, so the sound track never runs ahead of the picture.
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
        self.steered_samples = 0
        # Errors this small are left alone: below a millisecond nobody can see or hear them.
        self._deadband = sample_rate // 1000
        self._pending: collections.deque[tuple[int, np.ndarray]] = collections.deque()
        self._silence_start: int | None = None
        self._gaps: list[Gap] = []

    def sample_at(self, monotonic_ns: int) -> int:
        return (monotonic_ns - self._origin_ns) * self.sample_rate // _NS

    def push(self, chunk: AudioChunk) -> None:
        """Queue ``chunk``; ``advance`` writes it at its place on the timeline."""
        if chunk.sample_rate != self.sample_rate:
            raise ValueError(
                f"{self.source}: chunk at {chunk.sample_rate} Hz but the recording is "
                f"{self.sample_rate} Hz; the source must deliver the recording's rate"
            )
        self._pending.append((self.sample_at(chunk.pts_ns), chunk.samples))

    def advance(self, limit: int, silence_until: int) -> None:
        """Write queued audio up to sample ``limit``; where none came, silence up to
        ``min(silence_until, limit)``."""
        while self._pending and self.position < limit:
            start, samples = self._pending[0]
            # At the start, and after silence, there is no sound to keep continuous: place the
            # chunk exactly rather than absorbing a timestamp difference that steering would then
            # take seconds to work off.
            tolerance = 0 if self.position == 0 or self._silence_start is not None else self._jitter
            if start > self.position + tolerance:
                self._silence(min(start, limit) - self.position)
                if self.position >= limit:
                    return
            elif start < self.position - tolerance:
                overlap = min(self.position - start, len(samples))
                self.trimmed_samples += overlap
                samples = samples[overlap:]
            else:
                samples = self._steer(start - self.position, samples)
            take = min(len(samples), limit - self.position)
            if take:
                self._end_silence()
                self._write(samples[:take], self.position)
                self.position += take
            if take < len(samples):
                # The rest follows on contiguously once the picture has caught up.
                self._pending[0] = (self.position, samples[take:])
            else:
                self._pending.popleft()
        if not self._pending:
            self._silence(min(silence_until, limit) - self.position)

    def _steer(self, error: int, samples: np.ndarray) -> np.ndarray:
        """Work off a small timing error by resampling the chunk by at most 0.1 %.

        A microphone's sample clock is never exactly the host's: 100 ppm is 0.36 s an hour. Its
        chunks are stamped with their real capture time, so the difference shows up here as a
        slowly growing ``error``. Stretching or squeezing a chunk by one sample in a thousand is
        inaudible and keeps sound on the picture's clock for hours, without the clicks that
        dropping or inserting a block would make.
        """
        if abs(error) <= self._deadband or len(samples) < 2:
            return samples
        step = min(abs(error), max(1, len(samples) // 1000))
        length = len(samples) + step if error > 0 else len(samples) - step
        positions = np.linspace(0.0, len(samples) - 1, length)
        self.steered_samples += step
        resampled = np.interp(positions, np.arange(len(samples)), samples)
        return np.round(resampled).astype(np.int16)

    def finish(self, end_sample: int) -> list[Gap]:
        """Write what belongs before ``end_sample``, drop the rest, pad with silence to it, and
        return the microphone gaps."""
        self.advance(end_sample, end_sample)
        self.trimmed_samples += sum(len(samples) for _, samples in self._pending)
        self._pending.clear()
        self._silence(end_sample - self.position)
        self._end_silence()
        return list(self._gaps)

    def _silence(self, count: int) -> None:
        if count <= 0:
            return
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
