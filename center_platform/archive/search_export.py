"""A search's result list as CSV (UTF-8 with BOM, which Excel opens as Chinese) or XLSX.

Times are shown in the center's display time zone, as on screen; ID and card numbers are masked
or not exactly as the search result was. A cell a spreadsheet would read as a formula is quoted.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import tzinfo

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font

from center_platform.archive.quality_labels import verdict_label
from center_platform.archive.search import RecordingRow
from center_platform.retention.rules import last_day_kept

EXPORT_MAX = 50_000
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Column:
    title: str
    value: Callable[[RecordingRow, tzinfo], object]


COLUMNS = (
    Column("办理时间 Time", lambda r, tz: r.started_at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")),
    Column("业务单号 Serial no.", lambda r, tz: r.business_serial),
    Column("网点 Branch", lambda r, tz: r.branch_code),
    Column("柜台 Counter", lambda r, tz: r.counter_code),
    Column("客户经理 Manager", lambda r, tz: r.staff_code),
    Column("客户姓名 Customer", lambda r, tz: r.customer_name),
    Column("证件号 ID number", lambda r, tz: r.id_number),
    Column("银行卡号 Card number", lambda r, tz: r.card_number),
    Column("产品代码 Product code", lambda r, tz: r.product_code),
    Column("产品名称 Product", lambda r, tz: r.product_name),
    Column("产品类型 Product type", lambda r, tz: r.product_type),
    Column("时长(秒) Length (s)", lambda r, tz: round(r.duration_ms / 1000, 1)),
    Column("录像状态 Clip", lambda r, tz: r.clip_state),
    Column("归档状态 State", lambda r, tz: r.state),
    Column("保存至(含) Kept through", lambda r, tz: last_day_kept(r.retain_until, tz).isoformat()),
    Column("法律保全 Legal hold", lambda r, tz: "是 yes" if r.legal_hold else "否 no"),
    Column("质检 Quality", lambda r, tz: verdict_label(r.quality_verdict)),
    Column("录像编号 Clip id", lambda r, tz: r.clip_id),
    Column("SHA-256", lambda r, tz: r.sha256),
)


def _safe(value: object) -> object:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _xlsx_safe(value: object) -> object:
    # XLSX (XML 1.0) cannot hold most control characters; shown as \xNN they stay visible as evidence.
    value = _safe(value)
    if isinstance(value, str):
        return ILLEGAL_CHARACTERS_RE.sub(lambda m: f"\\x{ord(m.group()):02x}", value)
    return value


def csv_chunks(rows: Iterable[RecordingRow], tz: tzinfo) -> Iterator[str]:
    buf = io.StringIO()
    writer = csv.writer(buf)
    buf.write("\ufeff")
    writer.writerow([c.title for c in COLUMNS])
    for n, r in enumerate(rows, 1):
        writer.writerow([_safe(c.value(r, tz)) for c in COLUMNS])
        if n % 500 == 0:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()


def xlsx_bytes(rows: Iterable[RecordingRow], tz: tzinfo, title: str) -> bytes:
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title[:31])
    ws.freeze_panes = "A2"
    header = []
    for c in COLUMNS:
        cell = WriteOnlyCell(ws, value=c.title)
        cell.font = Font(bold=True)
        header.append(cell)
    ws.append(header)
    for r in rows:
        # Serial, ID and card numbers stay text: as numbers a spreadsheet would round them.
        ws.append([_xlsx_safe(c.value(r, tz)) for c in COLUMNS])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
