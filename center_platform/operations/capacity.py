"""Archive sizing: how many disks of a 24-bay store the evidence needs, and when today's store is full.

Demand is counters × recorded hours a day × bitrate × recording days a year × retention years: in steady
state retention deletes as much as the branches record, so that many years of clips is what the store
holds at most. Redundancy multiplies it: SeaweedFS replication "xyz" keeps 1 + x + y + z copies, erasure
coding d+p keeps (d + p) / d of every byte. A disk is filled only up to `max_fill`, because a store near
full rebalances slowly and a failed disk must fit somewhere. Usage and growth come from the catalogue:
the bytes of archived recordings, and what the last N days added per day. Growth is what arrived, not
net of what expiry deleted: the days until full err on the early side, as a purchase plan should.
"""

from __future__ import annotations

import argparse
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from center_platform.db.models import Recording

SECONDS_PER_HOUR = 3600
ARCHIVED = "archived"


class CapacityError(ValueError):
    """A sizing parameter that makes no sense; the message is Chinese first, then English."""


@dataclass(frozen=True)
class Redundancy:
    label: str
    factor: float  # stored bytes per byte of evidence


def parse_redundancy(text: str) -> Redundancy:
    """ "010" or "replication:010" (SeaweedFS replica placement), "ec:10+4" (data+parity shards)."""
    value = text.strip().lower()
    rep = re.fullmatch(r"(?:replication:)?([0-9])([0-9])([0-9])", value)
    if rep:
        copies = 1 + sum(int(d) for d in rep.groups())
        return Redundancy(f"replication {''.join(rep.groups())} ({copies} copies)", float(copies))
    ec = re.fullmatch(r"ec:([0-9]{1,2})\+([0-9]{1,2})", value)
    if ec and int(ec.group(1)) > 0:
        data, parity = int(ec.group(1)), int(ec.group(2))
        return Redundancy(f"erasure coding {data}+{parity}", (data + parity) / data)
    raise CapacityError(
        f"冗余方式 {text!r} 无法识别,请写副本放置如 010 或纠删码如 ec:10+4 / "
        f"redundancy {text!r} is neither a replica placement such as 010 nor erasure coding such as ec:10+4"
    )


@dataclass(frozen=True)
class SizingInput:
    counters: int
    hours_per_day: float
    bitrate_mbit: float  # picture and sound together, as the recorder writes them
    retention_years: float
    disk_tb: float  # decimal terabytes, as disks are sold
    redundancy: Redundancy
    bays: int = 24
    days_per_year: int = 365
    max_fill: float = 0.8

    def __post_init__(self) -> None:
        checks = [
            (self.counters >= 1, "柜台数至少为 1 / counters must be at least 1"),
            (0 < self.hours_per_day <= 24, "每天录像小时数须在 0 到 24 之间 / hours per day must be in (0, 24]"),
            (self.bitrate_mbit > 0, "码率须大于 0 / the bitrate must be above 0"),
            (self.retention_years > 0, "保存年限须大于 0 / retention years must be above 0"),
            (self.disk_tb > 0, "单盘容量须大于 0 / the disk size must be above 0"),
            (self.bays >= 1, "盘位数至少为 1 / bays must be at least 1"),
            (1 <= self.days_per_year <= 366, "每年录像天数须在 1 到 366 之间 / days per year must be 1-366"),
            (0 < self.max_fill <= 1, "磁盘填充上限须在 0 到 1 之间 / max fill must be in (0, 1]"),
        ]
        for ok, message in checks:
            if not ok:
                raise CapacityError(message)


@dataclass(frozen=True)
class Sizing:
    daily_bytes: float  # evidence recorded per recording day, all counters
    raw_bytes: float  # evidence kept at once in steady state
    stored_bytes: float  # with redundancy
    disks: int
    stores: int  # 24-bay (or `bays`) enclosures
    store_logical_bytes: float  # evidence those stores hold at max_fill, after redundancy


def size(p: SizingInput) -> Sizing:
    daily = p.counters * p.hours_per_day * SECONDS_PER_HOUR * p.bitrate_mbit * 1e6 / 8
    raw = daily * p.days_per_year * p.retention_years
    stored = raw * p.redundancy.factor
    usable_per_disk = p.disk_tb * 1e12 * p.max_fill
    disks = max(1, math.ceil(stored / usable_per_disk))
    stores = math.ceil(disks / p.bays)
    logical = stores * p.bays * usable_per_disk / p.redundancy.factor
    return Sizing(daily, raw, stored, disks, stores, logical)


@dataclass(frozen=True)
class Usage:
    used_bytes: int  # archived recordings in the catalogue
    recordings: int
    growth_bytes_per_day: float  # over the window below
    window_days: int


def measure_usage(db: Session, now: datetime, window_days: int) -> Usage:
    """Today's archived bytes, and the bytes catalogued per day over the last `window_days` days."""
    if window_days < 1:
        raise CapacityError("增长统计天数至少为 1 / the growth window must be at least 1 day")
    archived = Recording.state == ARCHIVED
    used, count = db.execute(select(func.coalesce(func.sum(Recording.size), 0), func.count()).where(archived)).one()
    since = now - timedelta(days=window_days)
    added = db.execute(
        select(func.coalesce(func.sum(Recording.size), 0)).where(Recording.verified_at >= since)
    ).scalar_one()
    return Usage(int(used), int(count), int(added) / window_days, window_days)


@dataclass(frozen=True)
class Outlook:
    capacity_bytes: float  # evidence the sized stores hold
    free_bytes: float
    days_until_full: float | None  # None: no growth measured, or never full at that rate


def outlook(sizing: Sizing, usage: Usage) -> Outlook:
    free = sizing.store_logical_bytes - usage.used_bytes
    if free <= 0:
        return Outlook(sizing.store_logical_bytes, free, 0.0)
    days = free / usage.growth_bytes_per_day if usage.growth_bytes_per_day > 0 else None
    return Outlook(sizing.store_logical_bytes, free, days)


def human_bytes(n: float) -> str:
    for unit, scale in (("PB", 1e15), ("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if abs(n) >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n:.0f} B"


def report_lines(p: SizingInput, sizing: Sizing, usage: Usage, out: Outlook) -> list[str]:
    days = "—" if out.days_until_full is None else f"{out.days_until_full:.0f}"
    return [
        f"每日录像 daily evidence: {human_bytes(sizing.daily_bytes)}",
        f"保存期内证据 evidence kept ({p.retention_years:g} years): {human_bytes(sizing.raw_bytes)}",
        f"冗余后 stored with {p.redundancy.label}: {human_bytes(sizing.stored_bytes)}",
        f"磁盘 disks of {p.disk_tb:g} TB (filled to {p.max_fill:.0%}): {sizing.disks}",
        f"{p.bays} 盘位存储 {p.bays}-bay stores: {sizing.stores}",
        f"可存证据 evidence capacity: {human_bytes(sizing.store_logical_bytes)}",
        f"已用 used today: {human_bytes(usage.used_bytes)} in {usage.recordings} recordings",
        f"增长 growth: {human_bytes(usage.growth_bytes_per_day)}/day over the last {usage.window_days} days",
        f"距满 days until full: {days}",
    ]


def add_sizing_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--counters", type=int, required=True, help="counters recording, over all branches")
    p.add_argument("--hours", type=float, default=8.0, help="recorded hours per counter and day (default 8)")
    p.add_argument("--bitrate-mbit", type=float, default=4.128, help="Mbit/s of a clip (default 4.128)")
    p.add_argument("--years", type=float, default=5.0, help="retention years (default 5)")
    p.add_argument("--disk-tb", type=float, default=18.0, help="disk size in TB (default 18)")
    p.add_argument("--redundancy", default="010", help="replica placement (010 = 2 copies) or ec:D+P")
    p.add_argument("--bays", type=int, default=24)
    p.add_argument("--days-per-year", type=int, default=365, help="recording days a year (default 365)")
    p.add_argument("--max-fill", type=float, default=0.8, help="fill disks up to this share (default 0.8)")
    p.add_argument("--growth-days", type=int, default=30, help="measure growth over this many days (default 30)")


def sizing_from_args(args: argparse.Namespace) -> SizingInput:
    return SizingInput(
        counters=args.counters,
        hours_per_day=args.hours,
        bitrate_mbit=args.bitrate_mbit,
        retention_years=args.years,
        disk_tb=args.disk_tb,
        redundancy=parse_redundancy(args.redundancy),
        bays=args.bays,
        days_per_year=args.days_per_year,
        max_fill=args.max_fill,
    )


def cmd_capacity(config: Any, args: argparse.Namespace) -> int:
    from center_platform.cli import CommandError
    from center_platform.db.engine import make_engine, make_session_factory, upgrade_to_head
    from storage.database import utcnow

    try:
        params = sizing_from_args(args)
        sizing = size(params)
    except CapacityError as exc:
        raise CommandError(str(exc)) from exc
    url = config.database_url()
    upgrade_to_head(url)
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as db:
            usage = measure_usage(db, utcnow(), max(1, args.growth_days))
    finally:
        engine.dispose()
    for line in report_lines(params, sizing, usage, outlook(sizing, usage)):
        print(line)
    return 0


def register(sub: Any) -> None:
    """`capacity` under `python -m center_platform`."""
    p = sub.add_parser("capacity", help="size the archive: disks of a 24-bay store, usage, days until full")
    add_sizing_arguments(p)
    p.set_defaults(fn=cmd_capacity)
