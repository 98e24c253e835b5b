"""Spool disk usage and how many days of recording are left at the recent daily rate."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

RATE_WINDOW = timedelta(days=7)


@dataclass(frozen=True)
class DiskForecast:
    total_bytes: int
    free_bytes: int
    spool_bytes: int
    daily_bytes: float
    days_left: float | None  # None: nothing recorded lately, so no rate to extrapolate


def daily_rate(recent: Sequence[tuple[datetime, int]], now: datetime) -> float:
    """Bytes per day over the last week, or over the days since the first clip if that is shorter.

    A branch that started recording two days ago would otherwise look seven times as frugal.
    """
    in_window = [(at, size) for at, size in recent if now - at <= RATE_WINDOW]
    if not in_window:
        return 0.0
    span = max(timedelta(days=1), min(RATE_WINDOW, now - min(at for at, _ in in_window)))
    return sum(size for _, size in in_window) / (span / timedelta(days=1))


def forecast_disk(
    spool_dir: Path, spool_bytes: int, recent: Sequence[tuple[datetime, int]], now: datetime
) -> DiskForecast:
    spool_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    usage = shutil.disk_usage(spool_dir)
    rate = daily_rate(recent, now)
    return DiskForecast(
        total_bytes=usage.total,
        free_bytes=usage.free,
        spool_bytes=spool_bytes,
        daily_bytes=rate,
        days_left=(usage.free / rate) if rate > 0 else None,
    )
