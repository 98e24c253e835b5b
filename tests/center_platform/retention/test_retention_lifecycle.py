"""Retain-until follows the rule through every event, only ever moves later, and the store's lock follows it."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from center_platform.db.models import AuditEvent, Product
from center_platform.retention.events import product_terms_changed, recompute
from tests.center_platform.archive_rig import FIXED_PRODUCT, OPEN_PRODUCT, ArchiveRig, archive_rig  # noqa: F401
from tests.center_platform.retention_rig import recording, stored_recording

SHANGHAI = ZoneInfo("Asia/Shanghai")
LEAP_PRODUCT = "LEAP-28"  # fixed term, matures on 29 February 2028


def shanghai(y: int, m: int, d: int, hh: int = 10, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=SHANGHAI).astimezone(UTC)


def end_of_shanghai_day(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 16, 0, tzinfo=UTC)


def today_shanghai() -> date:
    return datetime.now(SHANGHAI).date()


def add_years(d: date, n: int) -> date:
    try:
        return d.replace(year=d.year + n)
    except ValueError:
        return date(d.year + n, 3, 1)


def catalogue(rig: ArchiveRig, clip_id: str) -> None:
    """What ingest does: the rule applied to the fresh recording."""
    with rig.sessions() as db:
        from center_platform.retention.disputes import archived_recording

        recompute(db, rig.store, archived_recording(db, clip_id), "catalogued", "center")
        db.commit()


# (case, product, purchase time in UTC, events, expected last day (Shanghai), legal hold at the end)
# events: ("redeem", "YYYY-MM-DD") | ("open",) | ("close",)
CASES = [
    (
        "fixed term: maturity (purchase + 90 days) + 2y",
        FIXED_PRODUCT,
        shanghai(2026, 6, 1),
        [],
        date(2028, 8, 30),
        False,
    ),
    ("open-ended, never redeemed: purchase + 5y", OPEN_PRODUCT, shanghai(2026, 3, 10), [], date(2031, 3, 10), False),
    (
        "open-ended, early redemption: purchase + 5y wins",
        OPEN_PRODUCT,
        shanghai(2024, 1, 10),
        [("redeem", "2025-01-10")],
        date(2029, 1, 10),
        False,
    ),
    (
        "open-ended, late redemption inside 5y: redemption + 2y wins",
        OPEN_PRODUCT,
        shanghai(2023, 1, 10),
        [("redeem", "2026-03-01")],
        date(2028, 3, 1),
        False,
    ),
    (
        "open-ended, redemption after five years: redemption + 2y",
        OPEN_PRODUCT,
        shanghai(2021, 1, 10),
        [("redeem", "2026-06-01")],
        date(2028, 6, 1),
        False,
    ),
    (
        "dispute open: legal hold, date unchanged",
        FIXED_PRODUCT,
        shanghai(2026, 6, 1),
        [("open",)],
        date(2028, 8, 30),
        True,
    ),
    (
        "dispute closed: close day + 2y is later, hold off",
        FIXED_PRODUCT,
        shanghai(2026, 6, 1),
        [("open",), ("close",)],
        add_years(today_shanghai(), 2),
        False,
    ),
    ("maturity on 29 February: kept to 1 March", LEAP_PRODUCT, shanghai(2026, 2, 27), [], date(2030, 3, 1), False),
    (
        "sale at 00:30 Shanghai (previous day in UTC) counts from the Shanghai day",
        FIXED_PRODUCT,
        datetime(2026, 6, 1, 16, 30, tzinfo=UTC),
        [],
        date(2028, 8, 31),
        False,
    ),
]


@pytest.mark.parametrize(
    ("case", "product", "purchased", "events", "last_day", "hold"), CASES, ids=[c[0] for c in CASES]
)
def test_retention_table(
    archive_rig: ArchiveRig,
    case: str,
    product: str,
    purchased: datetime,
    events: list[tuple[str, ...]],
    last_day: date,
    hold: bool,
) -> None:
    if product == LEAP_PRODUCT:
        with archive_rig.sessions() as db:
            fixed = db.execute(select(Product).where(Product.code == FIXED_PRODUCT)).scalar_one()
            db.add(
                Product(
                    code=LEAP_PRODUCT,
                    name="闰年到期",
                    product_type_id=fixed.product_type_id,
                    maturity_date=date(2028, 2, 29),
                    risk_level="R2",
                )
            )
            db.commit()
    clip_id = stored_recording(archive_rig, started_at=purchased, product_code=product)
    catalogue(archive_rig, clip_id)
    officer = archive_rig.login("compliance")
    dispute_id = None
    for event in events:
        if event[0] == "redeem":
            r = officer.post(f"/api/recordings/{clip_id}/redemption", json={"redeemed_on": event[1]})
        elif event[0] == "open":
            r = officer.post(
                f"/api/recordings/{clip_id}/disputes", json={"reference": "CASE-1", "reason": "customer complaint"}
            )
            dispute_id = r.get_json()["dispute"]["id"]
        else:
            r = officer.post(f"/api/recordings/{clip_id}/disputes/{dispute_id}/close", json={"resolution": "settled"})
        assert r.status_code in (200, 201), r.get_json()

    rec = recording(archive_rig, clip_id)
    assert rec.retain_until == end_of_shanghai_day(last_day), case
    assert rec.legal_hold is hold
    for key, version in (
        (rec.object_key, rec.version_id),
        *[(v.key, v.version_id) for v in archive_rig.store.list_versions(rec.object_key + ".manifest.json")],
    ):
        info = archive_rig.store.head(key, version)
        assert info.lock_mode == "COMPLIANCE"
        assert info.retain_until == end_of_shanghai_day(last_day)
        assert info.legal_hold is hold

    view = officer.get(f"/api/recordings/{clip_id}/retention").get_json()
    assert view["retain_until"] == end_of_shanghai_day(last_day).isoformat()
    assert [h["action"] for h in view["history"]].count("retention.changed") >= 1


def test_retention_never_shortens_and_the_store_follows_each_extension(archive_rig: ArchiveRig) -> None:
    clip_id = stored_recording(archive_rig, started_at=shanghai(2026, 6, 1), product_code=FIXED_PRODUCT)
    catalogue(archive_rig, clip_id)
    first = recording(archive_rig, clip_id).retain_until
    assert first == end_of_shanghai_day(date(2028, 8, 30))

    with archive_rig.sessions() as db:
        product = db.execute(select(Product).where(Product.code == FIXED_PRODUCT)).scalar_one()
        product.term_days = 30  # maturity moved earlier: nothing shortens
        assert product_terms_changed(db, archive_rig.store, product, "sysadmin") == 0
        db.commit()
    rec = recording(archive_rig, clip_id)
    assert rec.retain_until == first
    with archive_rig.sessions() as db:
        kept = db.execute(
            select(AuditEvent).where(AuditEvent.target == clip_id, AuditEvent.action == "retention.kept")
        ).scalar_one()
        assert "never shortens" in json.loads(kept.detail)["note"]

    with archive_rig.sessions() as db:
        product = db.execute(select(Product).where(Product.code == FIXED_PRODUCT)).scalar_one()
        product.maturity_date = date(2027, 12, 31)  # a fixed maturity date later than the term
        assert product_terms_changed(db, archive_rig.store, product, "sysadmin") == 1
        db.commit()
    rec = recording(archive_rig, clip_id)
    assert rec.retain_until == end_of_shanghai_day(date(2029, 12, 31))
    assert rec.retention_reason == "maturity 2027-12-31 + 2y"
    assert archive_rig.store.head(rec.object_key, rec.version_id).retain_until == rec.retain_until


def test_bad_events_are_refused_with_the_field_named_and_nothing_changes(archive_rig: ArchiveRig) -> None:
    clip_id = stored_recording(archive_rig, started_at=shanghai(2026, 3, 10), product_code=OPEN_PRODUCT)
    catalogue(archive_rig, clip_id)
    before = recording(archive_rig, clip_id)
    officer = archive_rig.login("compliance")

    r = officer.post(f"/api/recordings/{clip_id}/redemption", json={"redeemed_on": "2026-03-09"})
    assert (
        r.status_code == 400
        and r.get_json()["field"] == "redeemed_on"
        and "before the purchase" in r.get_json()["error"]
    )
    future = (today_shanghai() + timedelta(days=2)).isoformat()
    r = officer.post(f"/api/recordings/{clip_id}/redemption", json={"redeemed_on": future})
    assert r.status_code == 400 and "future" in r.get_json()["error"]
    r = officer.post(f"/api/recordings/{clip_id}/redemption", json={"redeemed_on": "31/12/2026"})
    assert r.status_code == 400 and r.get_json()["field"] == "redeemed_on"
    r = officer.post(f"/api/recordings/{clip_id}/disputes", json={"reference": "", "reason": "x"})
    assert r.status_code == 400 and r.get_json()["field"] == "reference"
    assert (
        officer.post("/api/recordings/" + "0" * 32 + "/redemption", json={"redeemed_on": "2026-04-01"}).status_code
        == 404
    )

    r = officer.post(f"/api/recordings/{clip_id}/disputes", json={"reference": "CASE-9", "reason": "complaint"})
    dispute_id = r.get_json()["dispute"]["id"]
    assert (
        officer.post(f"/api/recordings/{clip_id}/disputes/{dispute_id}/close", json={"resolution": "ok"}).status_code
        == 200
    )
    r = officer.post(f"/api/recordings/{clip_id}/disputes/{dispute_id}/close", json={"resolution": "again"})
    assert r.status_code == 409 and "already closed" in r.get_json()["error"]

    after = recording(archive_rig, clip_id)
    assert after.redeemed_on is None
    assert after.retain_until >= before.retain_until
    # only compliance officers record retention events; CSRF is required
    assert (
        archive_rig.login("sysadmin")
        .post(f"/api/recordings/{clip_id}/redemption", json={"redeemed_on": "2026-04-01"})
        .status_code
        == 403
    )
    no_csrf = archive_rig.login("compliance")
    no_csrf.environ_base.pop("HTTP_X_CSRF_TOKEN")
    assert no_csrf.post(f"/api/recordings/{clip_id}/redemption", json={"redeemed_on": "2026-04-01"}).status_code == 403
