"""Turning what GetSystemDateAndTime reports into UTC, for cameras that report only local time."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from branch_agent.sources.onvif_clock import CameraClockError, CameraDateTime, camera_utc

NOON = CameraDateTime(2024, 7, 1, 12, 0, 0)


def utc(hour: int, day: int = 1) -> datetime:
    return datetime(2024, 7, day, hour, 0, 0, tzinfo=UTC)


def test_utc_date_time_is_taken_as_it_is_even_when_local_time_is_also_given() -> None:
    assert camera_utc(NOON, CameraDateTime(2024, 7, 1, 20, 0, 0), "CST-8", False) == utc(12)


@pytest.mark.parametrize(
    ("tz", "daylight_savings", "expected"),
    [
        ("CST-8", False, utc(4)),  # China: POSIX sign is reversed, local 12:00 is 04:00 UTC
        ("GMT+00:00", False, utc(12)),
        ("EST5EDT,M3.2.0,M11.1.0", True, utc(16)),  # New York in summer: UTC-4
        ("EST5EDT,M3.2.0,M11.1.0", False, utc(17)),
        ("<+0530>-5:30", False, datetime(2024, 7, 1, 6, 30, tzinfo=UTC)),
        ("CET-1CEST-2,M3.5.0,M10.5.0/3", True, utc(10)),
        ("Asia/Shanghai", False, utc(4)),  # an IANA name, which some firmwares send instead
    ],
)
def test_local_time_with_time_zone_becomes_utc(tz: str, daylight_savings: bool, expected: datetime) -> None:
    assert camera_utc(None, NOON, tz, daylight_savings) == expected


def test_unusable_reports_are_explained() -> None:
    with pytest.raises(CameraClockError, match="neither UTCDateTime nor LocalDateTime"):
        camera_utc(None, None, "CST-8", False)
    with pytest.raises(CameraClockError, match="no time zone"):
        camera_utc(None, NOON, "", False)
    with pytest.raises(CameraClockError, match="'Beijing time' is neither a POSIX TZ string nor an IANA name"):
        camera_utc(None, NOON, "Beijing time", False)
    with pytest.raises(CameraClockError, match="impossible date"):
        camera_utc(CameraDateTime(2024, 2, 30, 0, 0, 0), None, None, False)
