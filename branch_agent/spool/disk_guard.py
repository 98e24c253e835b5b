"""Refuses new recordings when the spool disk runs short, before a clip could be cut off by a full disk."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from branch_agent.config import SpoolSection
from branch_agent.spool.disk_forecast import DiskForecast
from branch_agent.spool.usage import measure_spool_disk
from storage.database import utcnow

GB = 1_000_000_000


@dataclass(frozen=True)
class DiskShortage:
    free_bytes: int
    days_left: float | None
    message: str  # Chinese first, English second: the counter shows it as it is


def find_shortage(limits: SpoolSection, disk: DiskForecast) -> DiskShortage | None:
    free_gb = disk.free_bytes / GB
    if limits.min_free_gb and free_gb < limits.min_free_gb:
        message = (
            f"本机磁盘空间不足（剩余 {free_gb:.1f} GB，低于 {limits.min_free_gb:g} GB），暂停新录像，请联系支行管理员 / "
            f"the branch disk is low ({free_gb:.1f} GB free, under {limits.min_free_gb:g} GB): "
            f"new recordings are refused; call the branch admin"
        )
        return DiskShortage(disk.free_bytes, disk.days_left, message)
    if limits.min_days_left and disk.days_left is not None and disk.days_left < limits.min_days_left:
        message = (
            f"本机磁盘仅够录像约 {disk.days_left:.1f} 天（低于 {limits.min_days_left:g} 天），暂停新录像，请联系支行管理员 / "
            f"the branch disk holds only about {disk.days_left:.1f} days of recording (under {limits.min_days_left:g}): "
            f"new recordings are refused; call the branch admin"
        )
        return DiskShortage(disk.free_bytes, disk.days_left, message)
    return None


class DiskGuard:
    def __init__(self, limits: SpoolSection, sessions: sessionmaker[Session], spool_dir: Path) -> None:
        self.limits = limits
        self.sessions = sessions
        self.spool_dir = spool_dir

    def shortage(self, now: datetime | None = None) -> DiskShortage | None:
        return find_shortage(self.limits, measure_spool_disk(self.sessions, self.spool_dir, now or utcnow()))
