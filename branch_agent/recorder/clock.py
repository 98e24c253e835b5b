"""The clock the recorder runs on.

Recording uses the host's monotonic clock. Rendering a clip from stored frames (benchmarks,
deterministic tests) uses a free-running clock that jumps ahead whenever the recorder would wait,
so the recorder does exactly the same work per frame, only as fast as the machine allows.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def monotonic_ns(self) -> int: ...

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        """Sleep up to ``seconds`` or until ``stop`` is set; return whether it is set."""
        ...


class MonotonicClock:
    """The host's monotonic clock: what every live source stamps its data with."""

    def monotonic_ns(self) -> int:
        return time.monotonic_ns()

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        return stop.wait(max(0.0, seconds))


class FreeRunningClock:
    """A clock that never sleeps: waiting moves time forward at once.

    Sources that derive their data from this clock (see the benchmark's sources) then deliver
    everything "on time", whatever the real speed.
    """

    def __init__(self, start_ns: int = 0) -> None:
        self._now = start_ns
        self._lock = threading.Lock()

    def monotonic_ns(self) -> int:
        with self._lock:
            return self._now

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        if stop.is_set():
            return True
        with self._lock:
            self._now += max(1, int(seconds * 1_000_000_000))
        return stop.is_set()
