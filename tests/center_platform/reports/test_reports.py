"""Reports from a reconciled day: assessment, charts with drill-down, ledger exports, branch restriction."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from openpyxl import load_workbook

from tests.center_platform.archive_rig import ArchiveRig, archive_rig  # noqa: F401
from tests.center_platform.reconciliation.ledger_rig import DAY, ledger_csv, resident_id, sale

T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
PERIOD = f"day_from={DAY}&day_to={DAY}"


def _reconciled(rig: ArchiveRig):  # type: ignore[no-untyped-def]
    rig.archive(business_serial="R1", id_type="resident_id", id_number=resident_id(1), started_at=T0)
    rig.archive(business_serial="R9", staff_code="1000002", started_at=T0 + timedelta(hours=2))
    client = rig.login("compliance")
    data = ledger_csv([sale("R1", resident_id(1), T0), sale("R2", resident_id(2), T0 + timedelta(hours=1))])
    assert client.post("/api/reconciliation/imports", data={"file": (io.BytesIO(data), "l.csv")}).status_code == 200
    assert client.post("/api/reconciliation/runs", json={"day": DAY.isoformat()}).status_code == 200
    return client


def test_assessment_charts_and_exports(archive_rig: ArchiveRig) -> None:
    client = _reconciled(archive_rig)
    body = client.get(f"/api/reports/assessment?{PERIOD}").get_json()
    staff = {s["key"]: s for s in body["staff"]}
    assert (staff["1000001"]["sales"], staff["1000001"]["recorded"], staff["1000001"]["missed"]) == (2, 1, 1)
    assert staff["1000001"]["coverage"] == 0.5 and staff["1000002"]["unsold"] == 1
    page = client.get(f"/reports?{PERIOD}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert '<svg id="coverage-chart" role="img"' in html and "<title>2026-11-02: 1/2 = 50.0%" in html
    assert "/recordings?from=2026-11-02T00:00&amp;to=2026-11-03T00:00" in html  # drill-down to the clips
    assert "kind=missed" in html  # and to the gaps
    rows = list(
        csv.reader(io.StringIO(client.get(f"/reports/ledger.csv?{PERIOD}").get_data(as_text=True).lstrip("\ufeff")))
    )
    assert rows[0][1] == "业务单号 Serial" and {r[1] for r in rows[1:]} == {"R1", "R9"}
    assert {r[1]: r[8] for r in rows[1:]} == {"R1": "recorded", "R9": "unsold"}
    wb = load_workbook(io.BytesIO(client.get(f"/reports/ledger.xlsx?{PERIOD}").data))
    assert wb.active.max_row == 3
    pdf = client.get(f"/reports/ledger.pdf?{PERIOD}")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF") and b"STSong-Light" in pdf.data


def test_report_roles(archive_rig: ArchiveRig) -> None:
    _reconciled(archive_rig)
    assert archive_rig.login("auditor").get(f"/reports?{PERIOD}").status_code == 200
    assert archive_rig.login("sysadmin").get(f"/reports?{PERIOD}").status_code == 403
    other = archive_rig.login("b010admin").get(f"/api/reports/assessment?{PERIOD}&branch_code=B009").get_json()
    assert other["staff"] == [] and other["filters"]["branch_code"] == "B010"  # own branch only, whatever asked
    own = archive_rig.login("b009admin").get(f"/api/reports/assessment?{PERIOD}").get_json()
    assert sum(s["sales"] for s in own["staff"]) == 2
