"""Reading a camera's clock from what ONVIF GetSystemDateAndTime reports.

Cameras report either UTCDateTime, or only LocalDateTime with a TZ string. ONVIF specifies the TZ
as a POSIX 1003.1 string (``CST-8``, ``CET-1CEST,M3.5.0,M10.5.0/3``), whose sign is the reverse of
the everyday one: ``CST-8`` is eight hours *ahead* of UTC. Some firmwares send an IANA name
(``Asia/Shanghai``) instead, which is accepted too. Whether daylight saving time is in effect is
taken from the device's own DaylightSavings flag rather than computed from the rule, because the
flag is what the camera used to produce its local time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_NAME = r"(?:[A-Za-z]{3,}|<[^>]+>)"
_OFFSET = r"[+-]?\d{1,2}(?::\d{1,2}(?::\d{1,2})?)?"
_POSIX_TZ = re.compile(
    rf"^(?P<std>{_NAME})(?P<std_offset>{_OFFSET})(?:(?P<dst>{_NAME})(?P<dst_offset>{_OFFSET})?)?(?:,.*)?$"
)


class CameraClockError(ValueError):
    """The camera's date and time cannot be turned into a UTC instant."""


@dataclass(frozen=True)
class CameraDateTime:
    """The fields of an ONVIF tt:DateTime, as the camera sent them (no time zone attached)."""

    year: int
    month: int
    day: int
    hour: int
    minute: int
    second: int

    def naive(self) -> datetime:
        try:
            return datetime(self.year, self.month, self.day, self.hour, self.minute, self.second)
        except ValueError as exc:
            raise CameraClockError(f"the camera reported an impossible date/time {self}: {exc}") from exc


def _posix_offset(text: str) -> timedelta:
    sign = -1 if text.startswith("-") else 1
    parts = [int(p) for p in text.lstrip("+-").split(":")]
    hours, minutes, seconds = (parts + [0, 0])[:3]
    return sign * timedelta(hours=hours, minutes=minutes, seconds=seconds)


def utc_offset_of(tz: str, daylight_savings: bool, local: datetime) -> timedelta:
    """How far the camera's local time is ahead of UTC, for the zone string it reported."""
    tz = tz.strip()
    match = _POSIX_TZ.match(tz)
    if match:
        # POSIX offsets are what you add to local time to get UTC, i.e. hours *west* of Greenwich.
        west = _posix_offset(match["std_offset"])
        if daylight_savings and match["dst"]:
            west = _posix_offset(match["dst_offset"]) if match["dst_offset"] else west - timedelta(hours=1)
        return -west
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise CameraClockError(f"the camera's time zone {tz!r} is neither a POSIX TZ string nor an IANA name") from exc
    offset = local.replace(tzinfo=zone).utcoffset()
    assert offset is not None  # a ZoneInfo always answers for a concrete datetime
    return offset


def camera_utc(
    utc: CameraDateTime | None, local: CameraDateTime | None, tz: str | None, daylight_savings: bool
) -> datetime:
    """The instant the camera's clock showed, as an aware UTC datetime."""
    if utc is not None:
        return utc.naive().replace(tzinfo=UTC)
    if local is None:
        raise CameraClockError("the camera reported neither UTCDateTime nor LocalDateTime")
    if not tz:
        raise CameraClockError("the camera reported only LocalDateTime and no time zone to interpret it")
    naive_local = local.naive()
    return (naive_local - utc_offset_of(tz, daylight_savings, naive_local)).replace(tzinfo=UTC)
