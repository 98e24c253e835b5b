"""A sale whose only recording was made after it counts as covered by a supplementary recording: neither
recorded nor recorded on time, nor missed; the reports show how many. A rejected supplementary recording,
or one whose time of sale is not the ledger's, covers nothing."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from center_platform.db.models import AuditEvent
from center_platform.db.reconciliation_models import LedgerSale, ReconciledSale
from tests.center_platform.archive.test_supplementary_approval import supplementary_clip
from tests.center_platform.archive_rig import ArchiveRig, archive_rig  # noqa: F401
from tests.center_platform.reconciliation.ledger_rig import DAY, ledger_csv, resident_id, sale

T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
H = timedelta(hours=1)


def test_a_sale_covered_by_a_supplementary_recording(archive_rig: ArchiveRig) -> None:
    rig = archive_rig
    rig.archive(business_serial="S1", id_type="resident_id", id_number=resident_id(1), started_at=T0)
    later = T0 + timedelta(days=2)
    supplementary_clip(rig, "S2", sale_at=T0 + H + timedelta(minutes=5), recorded_at=later)
    rejected = supplementary_clip(rig, "S3", sale_at=T0 + 2 * H, recorded_at=later + H)
    supplementary_clip(rig, "S4", sale_at=T0 - timedelta(days=3), recorded_at=later + 2 * H)
    compliance = rig.login("compliance")
    r = compliance.post(f"/api/supplementary/{rejected}/decision", json={"decision": "rejected", "reason": "画面不全"})
    assert r.status_code == 200

    ledger = [sale(f"S{n}", resident_id(n), T0 + (n - 1) * H) for n in (1, 2, 3, 4)]
    r = compliance.post("/api/reconciliation/imports", data={"file": (io.BytesIO(ledger_csv(ledger)), "l.csv")})
    assert r.status_code == 200, r.get_json()
    r = compliance.post("/api/reconciliation/runs", json={"day": DAY.isoformat()})
    assert r.status_code == 200, r.get_json()
    run = r.get_json()["runs"][0]
    assert (run["sales"], run["recorded"], run["late"], run["missed"]) == (4, 1, 0, 2)
    with rig.sessions() as db:
        rows = db.execute(
            select(LedgerSale.business_serial, ReconciledSale.outcome).join(
                ReconciledSale, ReconciledSale.sale_id == LedgerSale.id
            )
        ).all()
        outcomes = {serial: outcome for serial, outcome in rows}
        detail = db.execute(
            select(AuditEvent.detail).where(AuditEvent.action == "reconciliation.run").order_by(AuditEvent.id.desc())
        ).scalar()
    assert outcomes == {"S1": "recorded", "S2": "supplementary", "S3": "missed", "S4": "missed"}
    assert '"supplementary": 1' in (detail or "")

    gaps = compliance.get(f"/api/reconciliation/gaps?day_from={DAY}&day_to={DAY}").get_json()["gaps"]
    assert {(g["kind"], g["business_serial"]) for g in gaps} == {("missed", "S3"), ("missed", "S4")}

    report = compliance.get("/api/reports/assessment", query_string={"day_from": DAY, "day_to": DAY}).get_json()
    assert report["supplementary"]["total"] == 1
    assert report["supplementary"]["by_staff"] == [{"branch_code": "B009", "staff_code": "1000001", "sales": 1}]
    [branch] = report["branches"]
    assert (branch["sales"], branch["recorded"], branch["coverage"]) == (4, 1, 0.25)
    page = compliance.get("/reports", query_string={"day_from": DAY, "day_to": DAY}).get_data(as_text=True)
    assert 'id="supplementary-sales"' in page and "<strong>1</strong>" in page
