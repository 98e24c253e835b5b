"""Ledger import and one day's reconciliation through the API: every outcome, the gap workflow, re-runs."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from center_platform.db.models import AuditEvent, Branch, Recording
from center_platform.db.reconciliation_models import CancelledTake, DailyFigures, LedgerSale, QueuedTake
from tests.center_platform.archive_rig import ArchiveRig, archive_rig  # noqa: F401
from tests.center_platform.reconciliation.ledger_rig import DAY, ledger_csv, resident_id, sale

T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai


def _import(client, data: bytes, name: str = "ledger.csv") -> dict:  # type: ignore[no-untyped-def]
    r = client.post("/api/reconciliation/imports", data={"file": (io.BytesIO(data), name)})
    assert r.status_code == 200, r.get_json()
    return r.get_json()


@pytest.fixture()
def day_of_sales(archive_rig: ArchiveRig) -> ArchiveRig:
    rig = archive_rig
    h = timedelta(hours=1)
    rig.archive(business_serial="S1", id_type="resident_id", id_number=resident_id(1), started_at=T0)
    # Recorded under a mistyped serial: found by customer, product and time.
    rig.archive(
        business_serial="S2-TYPO",
        id_type="resident_id",
        id_number=resident_id(2),
        started_at=T0 + h + timedelta(minutes=10),
    )
    rig.archive(business_serial="S4", id_type="resident_id", id_number=resident_id(4), started_at=T0 + 4 * h)
    rig.archive(business_serial="X9", id_type="resident_id", id_number=resident_id(9), started_at=T0 + 5 * h)
    with rig.sessions() as db:
        b = db.execute(select(Branch.id).where(Branch.code == "B009")).scalar_one()
        db.add(
            CancelledTake(
                clip_id="c" * 32,
                branch_id=b,
                counter_code="C01",
                staff_code="1000001",
                business_serial="S5",
                product_code="P-90",
                reason="客户改期 customer postponed",
                cancelled_at=T0 + 6 * h,
                take_day=DAY,
            )
        )
        db.add(
            QueuedTake(
                branch_id=b,
                clip_id="q" * 32,
                business_serial="S6",
                counter_code="C01",
                staff_code="1000001",
                started_at=T0 + 7 * h,
            )
        )
        db.commit()
    return rig


LEDGER = [
    sale("S1", resident_id(1), T0),
    sale("S2", resident_id(2), T0 + timedelta(hours=1)),
    sale("S3", resident_id(3), T0 + timedelta(hours=2)),
    sale("S4", resident_id(4), T0 + timedelta(hours=3)),
    sale("S5", resident_id(5), T0 + timedelta(hours=6)),
    sale("S6", resident_id(6), T0 + timedelta(hours=7)),
]


def test_import_lists_bad_rows_and_is_idempotent(archive_rig: ArchiveRig) -> None:
    client = archive_rig.login("compliance")
    bad = [
        sale("B1", "110101198001010012", T0),  # wrong check digit
        sale("B2", resident_id(7), T0, amount="100.5"),
        sale("B3", resident_id(7), T0, product="NOPE"),
        ["B4", "B009", "1000001", resident_id(7), "P-90", "1.00", "yesterday"],
    ]
    out = _import(client, ledger_csv(LEDGER + bad))
    assert (out["rows_total"], out["rows_new"], out["rows_bad"]) == (10, 6, 4)
    fields = {(p["line"], p["field"]) for p in out["problems"]}
    assert fields == {(8, "customer_id"), (9, "amount"), (10, "product"), (11, "sold_at")}
    assert all("/" in p["reason"] for p in out["problems"])  # Chinese / English
    again = _import(client, ledger_csv(LEDGER, bom=False))
    assert (again["rows_new"], again["rows_same"], again["rows_conflict"]) == (0, 6, 0)
    changed = [sale("S1", resident_id(1), T0, amount="99999.00")]
    conflict = _import(client, ledger_csv(changed))
    assert conflict["rows_conflict"] == 1 and conflict["problems"][0]["serial"] == "S1"
    with archive_rig.sessions() as db:
        assert (
            db.execute(select(LedgerSale.amount).where(LedgerSale.business_serial == "S1")).scalar_one() == "10000.00"
        )
        # Without an offset the time is the branch's: 09:00 in Shanghai.
        naive = _import(
            client, ledger_csv([["S7", "B009", "1000001", resident_id(7), "P-90", "5.00", "2026-11-02 09:00:00"]])
        )
        assert naive["rows_new"] == 1
        sold = db.execute(select(LedgerSale.sold_at).where(LedgerSale.business_serial == "S7")).scalar_one()
        assert sold == T0
        assert db.execute(select(AuditEvent).where(AuditEvent.action == "ledger.imported")).scalars().all()


def test_reconciliation_finds_every_outcome_and_keeps_worked_gaps(day_of_sales: ArchiveRig) -> None:
    rig = day_of_sales
    client = rig.login("compliance")
    _import(client, ledger_csv(LEDGER))
    r = client.post("/api/reconciliation/runs", json={"day": DAY.isoformat()})
    assert r.status_code == 200, r.get_json()
    run = r.get_json()["runs"][0]
    assert {
        k: run[k]
        for k in (
            "sales",
            "recorded",
            "late",
            "missed",
            "not_uploaded",
            "cancelled_sales",
            "recordings",
            "unsold",
            "cancelled_takes",
        )
    } == {
        "sales": 6,
        "recorded": 3,
        "late": 1,
        "missed": 1,
        "not_uploaded": 1,
        "cancelled_sales": 1,
        "recordings": 4,
        "unsold": 1,
        "cancelled_takes": 1,
    }
    gaps = client.get(f"/api/reconciliation/gaps?day_from={DAY}&day_to={DAY}").get_json()["gaps"]
    by_kind = {(g["kind"], g["business_serial"]) for g in gaps}
    assert by_kind == {("missed", "S3"), ("late", "S4"), ("cancelled", "S5"), ("not_uploaded", "S6"), ("unsold", "X9")}
    missed = next(g for g in gaps if g["kind"] == "missed")
    assert (
        client.post(f"/api/reconciliation/gaps/{missed['id']}", json={"status": "explained", "note": ""}).status_code
        == 400
    )
    worked = client.post(
        f"/api/reconciliation/gaps/{missed['id']}",
        json={"status": "supplement_requested", "note": "网点补录 branch to re-record"},
    )
    assert worked.status_code == 200 and worked.get_json()["status"] == "supplement_requested"
    # The re-run finds the same gap and keeps its status; the late recording's unsold twin does not appear.
    assert client.post("/api/reconciliation/runs", json={"day": DAY.isoformat()}).status_code == 200
    again = client.get(f"/api/reconciliation/gaps?day_from={DAY}&kind=missed").get_json()["gaps"]
    assert [(g["id"], g["status"], g["note"]) for g in again] == [
        (missed["id"], "supplement_requested", "网点补录 branch to re-record")
    ]
    # The clip arrives: the gap is no longer current, its worked status stays.
    rig.archive(
        business_serial="S3", id_type="resident_id", id_number=resident_id(3), started_at=T0 + timedelta(hours=2)
    )
    client.post("/api/reconciliation/runs", json={"day": DAY.isoformat()})
    assert client.get(f"/api/reconciliation/gaps?day_from={DAY}&kind=missed").get_json()["gaps"] == []
    kept = client.get(f"/api/reconciliation/gaps?day_from={DAY}&kind=missed&all=1").get_json()["gaps"]
    assert kept[0]["status"] == "supplement_requested" and kept[0]["current"] is False
    with rig.sessions() as db:
        actions = (
            db.execute(select(AuditEvent.action).where(AuditEvent.action.like("reconciliation.%"))).scalars().all()
        )
        assert actions.count("reconciliation.gap_worked") == 1 and actions.count("reconciliation.run") == 3
        assert sum(db.execute(select(DailyFigures.sales).where(DailyFigures.day == DAY)).scalars()) == 6
        assert db.execute(select(Recording).where(Recording.business_serial == "S3")).scalar_one()


def test_reconciliation_is_for_compliance_only(archive_rig: ArchiveRig) -> None:
    for user in ("auditor", "b009admin", "sysadmin"):
        c = archive_rig.login(user)
        assert c.get("/api/reconciliation/gaps").status_code == 403
        assert c.post("/api/reconciliation/runs", json={"day": "2026-11-02"}).status_code == 403
