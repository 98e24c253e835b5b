"""Maps a stream's own presentation times onto the agent's monotonic clock.

A camera stamps its frames with its own clock (RTP timestamps, which FFmpeg turns into pts). That
clock runs at its own rate, may be hours off wall time, starts anywhere, and jumps when the camera
restarts or when the first RTCP sender report re-bases the stream. What the recorder needs is when
each frame was available here, on the host's monotonic clock, without the jitter of the network and
the decoder. ``StreamClock`` keeps ``arrival - pts`` for the frames of the last few seconds and maps
``pts`` with the smallest of them: delays only ever add, so the smallest is the least-delayed frame,
and following the minimum over a sliding window tracks the camera clock's drift. Each stream gets
its own clock, because a stream's pts are only consistent with themselves.

A frame without pts (some cameras send the first frames unstamped) continues from the previous one
by its nominal duration; a stream that has not yet had a stamped frame is placed at its arrival.
A backward jump larger than ``jump_s`` (a camera reboot resetting its timestamps, or a stall longer
than any network delay) starts the mapping afresh, so frames are not left stamped hours in the past;
a forward jump is taken at once by the minimum itself.
"""

from __future__ import annotations

import collections

_NS = 1_000_000_000


class StreamClock:
    def __init__(self, window_s: float = 10.0, jump_s: float = 1.0) -> None:
        if window_s <= 0 or jump_s <= 0:
            raise ValueError("window_s and jump_s must be positive")
        self._window_ns = int(window_s * _NS)
        self._jump_ns = int(jump_s * _NS)
        # (arrival, offset) pairs with increasing offsets: a sliding-window minimum.
        self._anchors: collections.deque[tuple[int, int]] = collections.deque()
        self._last_pts: int | None = None
        self.resets = 0  # backward jumps seen; tells a camera that keeps rebooting

    def reset(self) -> None:
        """Forget the mapping (after a reconnect the stream's pts start anew)."""
        self._anchors.clear()
        self._last_pts = None

    def map(self, pts_ns: int | None, arrival_ns: int, duration_ns: int = 0) -> int:
        """Monotonic time for a frame stamped ``pts_ns`` (None if unstamped) that arrived now."""
        if pts_ns is None:
            if self._last_pts is None or not self._anchors:
                return arrival_ns
            pts_ns = self._last_pts + duration_ns
        offset = arrival_ns - pts_ns
        anchors = self._anchors
        if anchors and offset - anchors[0][1] > self._jump_ns:
            # The stream's time went backwards (or stalled far longer than any network delay):
            # the old mapping would place this frame in the past, so start again from here.
            anchors.clear()
            self.resets += 1
        while anchors and anchors[-1][1] >= offset:
            anchors.pop()
        anchors.append((arrival_ns, offset))
        while anchors[0][0] < arrival_ns - self._window_ns:
            anchors.popleft()
        self._last_pts = pts_ns
        return pts_ns + anchors[0][1]
