"""The SSRCs (SDP ``y=``) the platform offers for live video, GB/T 28181-2016 9.2.2 and annex F.

The standard fixes the form: ten decimal digits, ``0`` for live, digits 4-8 of the SIP domain,
then a four-digit sequence. The sequence is drawn at random here, so another host on the LAN
cannot predict the SSRC of the next stream, and never one already taken: one drawn for an INVITE
not yet answered (for ``pending_s``, in case that INVITE is never sent) or one a live session
uses (ours or the camera's own y=) until the session ends. Camera threads draw while the
platform's loop binds and releases, hence the lock.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable

from branch_agent.gb28181.sdp import make_ssrc

SEQUENCES = 10000
_RANDOM_TRIES = 32


class SsrcExhausted(RuntimeError):
    """Every live SSRC of the domain is taken."""


class SsrcPool:
    def __init__(
        self,
        domain: str,
        *,
        pending_s: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        make_ssrc(domain, 0)  # validates the domain
        self.domain = domain
        self.pending_s = pending_s
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: dict[str, float] = {}  # drawn, not yet used by a session: when drawn
        self._held: Counter[str] = Counter()  # used by live sessions

    def _taken(self, ssrc: str, now: float) -> bool:
        if ssrc in self._held:
            return True
        drawn = self._pending.get(ssrc)
        if drawn is None:
            return False
        if now - drawn > self.pending_s:
            del self._pending[ssrc]
            return False
        return True

    def take(self) -> str:
        """A random live SSRC nobody has; SsrcExhausted if there is none."""
        with self._lock:
            now = self._clock()
            for _ in range(_RANDOM_TRIES):
                ssrc = make_ssrc(self.domain, secrets.randbelow(SEQUENCES))
                if not self._taken(ssrc, now):
                    break
            else:
                # Nearly all are taken: choose among those that are not.
                free = [s for n in range(SEQUENCES) if not self._taken(s := make_ssrc(self.domain, n), now)]
                if not free:
                    raise SsrcExhausted(f"no free SSRC: all {SEQUENCES} live SSRCs of the domain are in use")
                ssrc = secrets.choice(free)
            self._pending[ssrc] = now
            return ssrc

    def hold(self, ssrc: str) -> None:
        """A session uses ``ssrc`` (drawn here or the camera's own): taken until released."""
        with self._lock:
            self._pending.pop(ssrc, None)
            self._held[ssrc] += 1

    def release(self, ssrc: str) -> None:
        """The session using it ended, or the INVITE it was drawn for failed."""
        with self._lock:
            self._pending.pop(ssrc, None)
            if self._held[ssrc] > 1:
                self._held[ssrc] -= 1
            else:
                self._held.pop(ssrc, None)
