"""Events and bytes per second over a short sliding window, for source health."""

from __future__ import annotations

import collections

_NS = 1_000_000_000
# Long enough for a stable figure, short enough not to hide a recent stall for long.
_WINDOW_NS = 2 * _NS


class RateMeter:
    """``rate()`` is events per second; ``amount_rate()`` is the summed amounts per second."""

    def __init__(self, window_ns: int = _WINDOW_NS) -> None:
        self._window_ns = window_ns
        self._events: collections.deque[tuple[int, int]] = collections.deque()
        self._amount = 0

    def tick(self, now_ns: int, amount: int = 1) -> None:
        self._events.append((now_ns, amount))
        self._amount += amount
        self._trim(now_ns)

    def rate(self, now_ns: int) -> float:
        self._trim(now_ns)
        if len(self._events) < 2:
            return 0.0
        span = self._events[-1][0] - self._events[0][0]
        return (len(self._events) - 1) * _NS / span if span > 0 else 0.0

    def amount_rate(self, now_ns: int) -> float:
        self._trim(now_ns)
        return self._amount * _NS / self._window_ns

    def _trim(self, now_ns: int) -> None:
        while self._events and now_ns - self._events[0][0] > self._window_ns:
            self._amount -= self._events.popleft()[1]
