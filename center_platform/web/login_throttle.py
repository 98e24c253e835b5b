"""Failed sign-ins counted per address and user name and per address, in this process, in bounded memory.

Each count lives for a fixed window from its first failure (`[security] login_window_s`); an address that
reaches `login_failures_per_account` for one name, or `login_failures_per_address` for all names, is
refused (429) until that window ends, before its password is looked at, so a guesser costs neither a
hash nor an audit line per attempt. The first refusal of a burst is reported so that it is audited once.

A successful sign-in is never counted: a branch office behind one address signs many people in. At most
`capacity` counters per kind are kept; the least recently used goes first.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from center_platform.config import SecuritySection

DEFAULT_CAPACITY = 10_000

Scope = Literal["account", "address"]


@dataclass
class _Burst:
    started: float
    failures: int = 0
    refused: int = 0


@dataclass(frozen=True)
class Refusal:
    retry_after_s: int
    scope: Scope  # which limit was reached
    limit: int
    first: bool  # the first refusal of this burst: the one to audit


class _Counters:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._rows: OrderedDict[tuple[str, ...], _Burst] = OrderedDict()

    def live(self, key: tuple[str, ...], now: float, window: float) -> _Burst | None:
        row = self._rows.get(key)
        if row is None:
            return None
        if now - row.started >= window:
            del self._rows[key]
            return None
        self._rows.move_to_end(key)
        return row

    def count_failure(self, key: tuple[str, ...], now: float, window: float) -> None:
        row = self.live(key, now, window)
        if row is None:
            row = self._rows[key] = _Burst(started=now)
            while len(self._rows) > self.capacity:
                self._rows.popitem(last=False)
        row.failures += 1

    def __len__(self) -> int:
        return len(self._rows)


class LoginThrottle:
    def __init__(
        self,
        security: SecuritySection,
        capacity: int = DEFAULT_CAPACITY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._security = security  # read at every call: the limits are the configuration's current ones
        self._clock = clock
        self._lock = threading.Lock()
        self._accounts = _Counters(capacity)
        self._addresses = _Counters(capacity)

    def refusal(self, address: str, username: str) -> Refusal | None:
        """Why this attempt is refused without being checked, or None when it may go ahead."""
        sec = self._security
        now = self._clock()
        window = float(sec.login_window_s)
        checks: tuple[tuple[Scope, _Counters, tuple[str, ...], int], ...] = (
            ("account", self._accounts, (address, username), sec.login_failures_per_account),
            ("address", self._addresses, (address,), sec.login_failures_per_address),
        )
        with self._lock:
            for scope, counters, key, limit in checks:
                row = counters.live(key, now, window)
                if row is not None and row.failures >= limit:
                    row.refused += 1
                    wait = max(1, math.ceil(row.started + window - now))
                    return Refusal(retry_after_s=wait, scope=scope, limit=limit, first=row.refused == 1)
        return None

    def failed(self, address: str, username: str) -> None:
        """Counts a failed sign-in (wrong name or password, locked or inactive account)."""
        now = self._clock()
        window = float(self._security.login_window_s)
        with self._lock:
            self._accounts.count_failure((address, username), now, window)
            self._addresses.count_failure((address,), now, window)

    def tracked(self) -> int:
        with self._lock:
            return len(self._accounts) + len(self._addresses)
