"""The sales ledger as an XLSX workbook, as the core system's export or a spreadsheet saves it."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from openpyxl import Workbook
from sqlalchemy import select

from center_platform.db.reconciliation_models import LedgerSale
from tests.center_platform.archive_rig import ArchiveRig, archive_rig  # noqa: F401
from tests.center_platform.reconciliation.ledger_rig import resident_id

T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai


def _workbook(rows: list[list[object]]) -> bytes:
    wb = Workbook()
    sheet = wb.active
    assert sheet is not None
    # Chinese column names, in another order than the CSV example: the header names the columns.
    sheet.append(["交易时间", "业务单号", "网点", "客户经理", "证件号码", "产品代码", "金额"])
    for row in rows:
        sheet.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_xlsx_ledger_imports_good_rows_and_lists_a_bad_one(archive_rig: ArchiveRig) -> None:
    data = _workbook(
        [
            [T0.isoformat(), "X1", "B009", "1000001", resident_id(1), "P-90", "10000.00"],
            # A date cell without a time zone: the branch's local time (09:30 in Shanghai).
            [datetime(2026, 11, 2, 9, 30), "X2", "B009", "1000002", resident_id(2), "OPEN-1", "250.50"],
            [T0.isoformat(), "X3", "B009", "1000001", "110101198001010012", "P-90", "1.00"],  # wrong check digit
            [None, None, None, None, None, None, None],  # an empty row is skipped, not a problem
        ]
    )
    client = archive_rig.login("compliance")
    r = client.post("/api/reconciliation/imports", data={"file": (io.BytesIO(data), "流水.xlsx")})
    assert r.status_code == 200, r.get_json()
    out = r.get_json()
    assert (out["rows_total"], out["rows_new"], out["rows_bad"]) == (3, 2, 1)
    [problem] = out["problems"]
    assert (problem["line"], problem["field"], problem["serial"]) == (4, "customer_id", "X3")
    assert "身份证" in problem["reason"] and "check digit" in problem["reason"]
    with archive_rig.sessions() as db:
        sales = {s: t for s, t in db.execute(select(LedgerSale.business_serial, LedgerSale.sold_at)).tuples()}
    assert set(sales) == {"X1", "X2"}
    assert sales["X1"].replace(tzinfo=UTC) == T0
    assert sales["X2"].replace(tzinfo=UTC) == datetime(2026, 11, 2, 1, 30, tzinfo=UTC)
