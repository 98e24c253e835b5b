"""Capture times for audio from a device whose sample clock is not the host's.

A sound card or a camera's audio track delivers samples in bursts, a little after they were
captured and with varying delay, and at a rate that is a few hundred ppm off its nominal value.
Counting samples alone would drift; stamping each burst with its arrival time alone would jitter.
``CaptureClock`` does both: it counts samples at the nominal rate and re-anchors that count on
the host's monotonic clock with the smallest delay seen over the last two seconds, which follows
the drift and ignores the delivery jitter (delays only ever add).
"""

from __future__ import annotations

import collections

_NS = 1_000_000_000


class CaptureClock:
    def __init__(self, sample_rate: int, window_s: float = 2.0) -> None:
        if sample_rate <= 0 or window_s <= 0:
            raise ValueError("sample_rate and window_s must be positive")
        self.sample_rate = sample_rate
        self._window_ns = int(window_s * _NS)
        self._samples = 0
        # (arrival time, anchor offset) pairs with increasing offsets: a sliding-window minimum.
        self._anchors: collections.deque[tuple[int, int]] = collections.deque()

    def stamp(self, count: int, arrival_ns: int) -> int:
        """Monotonic capture time of the first of ``count`` samples that arrived at ``arrival_ns``."""
        if count <= 0:
            raise ValueError(f"count must be positive, got {count}")
        end = self._samples + count
        offset = arrival_ns - end * _NS // self.sample_rate
        anchors = self._anchors
        while anchors and anchors[-1][1] >= offset:
            anchors.pop()
        anchors.append((arrival_ns, offset))
        while anchors[0][0] < arrival_ns - self._window_ns:
            anchors.popleft()
        pts = self._samples * _NS // self.sample_rate + anchors[0][1]
        self._samples = end
        return pts
