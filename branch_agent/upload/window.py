"""When uploads may run: inside the configured off-hours window, in branch time, with per-branch jitter."""

from __future__ import annotations

import hashlib
from datetime import datetime, time, timedelta


def in_window(now_local: datetime, start: time, end: time) -> bool:
    """A window may wrap midnight (19:00–07:00)."""
    t = now_local.time()
    if start <= end:
        return start <= t < end
    return t >= start or t < end


def jitter_seconds(branch_code: str, spread_s: int = 900) -> int:
    """Stable per branch, so the whole network does not start its uploads in the same second."""
    return int(hashlib.sha256(branch_code.encode()).hexdigest(), 16) % max(1, spread_s)


def window_opens_for(branch_code: str, start: time) -> time:
    base = datetime.combine(datetime(2000, 1, 1).date(), start) + timedelta(seconds=jitter_seconds(branch_code))
    return base.time()
