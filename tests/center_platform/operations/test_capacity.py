"""Archive sizing: the arithmetic, usage and growth from the catalogue, the CLI and the page."""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path

import pytest

from center_platform.cli import main
from center_platform.db.models import Recording
from center_platform.operations.capacity import (
    CapacityError,
    SizingInput,
    Usage,
    measure_usage,
    outlook,
    parse_redundancy,
    size,
)
from storage.database import utcnow
from tests.center_platform.archive_rig import ArchiveRig, archive_rig  # noqa: F401


def test_replica_placement_and_erasure_coding() -> None:
    assert parse_redundancy("010").factor == 2.0
    assert parse_redundancy("replication:000").factor == 1.0
    assert parse_redundancy("200").factor == 3.0
    assert parse_redundancy("ec:10+4").factor == pytest.approx(1.4)
    for bad in ("2 copies", "ec:0+4", "0100", ""):
        with pytest.raises(CapacityError, match="redundancy"):
            parse_redundancy(bad)


def test_three_hundred_counters_for_five_years_on_two_copies() -> None:
    p = SizingInput(
        counters=300,
        hours_per_day=8,
        bitrate_mbit=4.0,
        retention_years=5,
        disk_tb=18,
        redundancy=parse_redundancy("010"),
    )
    s = size(p)
    # 4 Mbit/s is 0.5 MB/s: 300 counters × 8 h × 3600 s × 0.5 MB = 4.32 TB a day.
    assert s.daily_bytes == pytest.approx(4.32e12)
    assert s.raw_bytes == pytest.approx(4.32e12 * 365 * 5)
    assert s.stored_bytes == pytest.approx(2 * 4.32e12 * 365 * 5)
    # Each 18 TB disk is filled to 80 %: 14.4 TB usable.
    assert s.disks == math.ceil(2 * 4.32e12 * 365 * 5 / 14.4e12) == 1095
    assert s.stores == 46  # 24 bays each
    assert s.store_logical_bytes == pytest.approx(46 * 24 * 14.4e12 / 2)


def test_erasure_coding_needs_fewer_disks_than_two_copies() -> None:
    common = {"counters": 50, "hours_per_day": 6, "bitrate_mbit": 4.128, "retention_years": 7, "disk_tb": 20}
    two = size(SizingInput(redundancy=parse_redundancy("010"), **common))  # type: ignore[arg-type]
    ec = size(SizingInput(redundancy=parse_redundancy("ec:10+4"), **common))  # type: ignore[arg-type]
    assert ec.disks < two.disks
    assert ec.stored_bytes == pytest.approx(two.raw_bytes * 1.4)


@pytest.mark.parametrize(
    ("field", "value"),
    [("counters", 0), ("hours_per_day", 25), ("bitrate_mbit", 0), ("max_fill", 1.5), ("days_per_year", 400)],
)
def test_senseless_parameters_are_refused(field: str, value: float) -> None:
    params: dict[str, object] = {
        "counters": 1,
        "hours_per_day": 8,
        "bitrate_mbit": 4,
        "retention_years": 5,
        "disk_tb": 18,
        "redundancy": parse_redundancy("010"),
        field: value,
    }
    with pytest.raises(CapacityError):
        SizingInput(**params)  # type: ignore[arg-type]


def test_days_until_full_from_free_space_and_growth() -> None:
    s = size(SizingInput(1, 1, 0.01, 1, 1, parse_redundancy("000"), bays=1, max_fill=1.0))
    assert s.store_logical_bytes == 1e12
    assert outlook(s, Usage(400_000_000_000, 10, 2e9, 30)).days_until_full == pytest.approx(300)
    assert outlook(s, Usage(0, 0, 0.0, 30)).days_until_full is None  # nothing recorded lately: no date
    assert outlook(s, Usage(2_000_000_000_000, 10, 1e9, 30)).days_until_full == 0.0


def test_usage_and_growth_come_from_the_catalogue(archive_rig: ArchiveRig) -> None:
    recent = archive_rig.archive(media=b"r" * 6000)
    older = archive_rig.archive(media=b"o" * 4000)
    with archive_rig.sessions() as db:
        row = db.query(Recording).filter_by(clip_id=older).one()
        row.verified_at = utcnow() - timedelta(days=40)
        db.commit()
        usage = measure_usage(db, utcnow(), 30)
    assert recent != older
    assert usage.used_bytes == 10_000 and usage.recordings == 2
    assert usage.growth_bytes_per_day == pytest.approx(6000 / 30)


def test_cli_prints_disks_stores_and_days_until_full(
    archive_rig: ArchiveRig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    archive_rig.archive(media=b"x" * 3000)
    config = str(archive_rig.write_cli_config(tmp_path / "center.toml", monkeypatch))
    args = ["--config", config, "capacity", "--counters", "300", "--hours", "8", "--bitrate-mbit", "4"]
    assert main([*args, "--years", "5", "--disk-tb", "18", "--redundancy", "010"]) == 0
    out = capsys.readouterr().out
    assert "disks of 18 TB (filled to 80%): 1095" in out
    assert "24-bay stores: 46" in out
    assert "3000 B in 1 recordings" in out
    assert main([*args, "--redundancy", "three copies"]) == 2
    assert "redundancy" in capsys.readouterr().err


def test_page_shows_the_sizing_and_a_chart_to_operators_only(archive_rig: ArchiveRig) -> None:
    archive_rig.archive(media=b"y" * 5000)
    admin = archive_rig.login("sysadmin")
    r = admin.get("/operations/capacity?counters=300&hours=8&bitrate_mbit=4&years=5&disk_tb=18&redundancy=010")
    page = r.get_data(as_text=True)
    assert r.status_code == 200
    assert 'data-disks="1095"' in page and 'data-stores="46"' in page
    assert '<svg id="capacity_chart"' in page and 'class="capacity"' in page
    bad = admin.get("/operations/capacity?counters=abc")
    assert bad.status_code == 400 and "counters 须为十进制数" in bad.get_data(as_text=True)
    assert archive_rig.login("auditor").get("/operations/capacity").status_code == 403
