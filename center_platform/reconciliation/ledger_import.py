"""Import of the core system's daily sales ledger (CSV or XLSX), through the UI or the signed API.

Format (README "Sales ledger import"): a header row, then one sale per row. Columns, by English or
Chinese name: serial/业务单号, branch/网点, staff_code/客户经理, customer_id_type/证件类型 (optional,
default resident_id), customer_id/证件号码, product/产品代码, amount/金额 (a decimal with exactly two
places), sold_at/交易时间 (ISO 8601; with an offset, or without one in the branch's time zone).
CSV is UTF-8 with or without BOM.

A row is named by its serial. A serial already imported with the same content is counted as the same
row (re-importing a file changes nothing); with different content it is a conflict, listed, never an
overwrite. Bad rows are listed with line, field and reason (Chinese and English); the good rows of the
file are imported all the same.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from openpyxl import load_workbook
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from center_platform.audit import trail as audit
from center_platform.db.models import Branch, Product
from center_platform.db.reconciliation_models import LedgerImport, LedgerSale

COLUMNS = {
    "serial": ("serial", "业务单号"),
    "branch": ("branch", "网点"),
    "staff_code": ("staff_code", "客户经理"),
    "customer_id_type": ("customer_id_type", "证件类型"),
    "customer_id": ("customer_id", "证件号码"),
    "product": ("product", "产品代码"),
    "amount": ("amount", "金额"),
    "sold_at": ("sold_at", "交易时间"),
}
REQUIRED = ("serial", "branch", "staff_code", "customer_id", "product", "amount", "sold_at")
ID_TYPES = ("resident_id", "passport", "hk_macao_permit", "taiwan_permit")
MAX_PROBLEMS_KEPT = 1000
MAX_ROWS = 500_000
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_AMOUNT = re.compile(r"^-?[0-9]{1,15}\.[0-9]{2}$")
_SERIAL = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class LedgerFormatError(ValueError):
    """The file as a whole cannot be read (not CSV/XLSX, no header, a required column missing)."""


@dataclass(frozen=True)
class RowProblem:
    line: int
    field: str
    reason: str  # Chinese, then English
    serial: str = ""


@dataclass
class ImportOutcome:
    import_id: int
    rows_total: int = 0
    rows_new: int = 0
    rows_same: int = 0
    rows_conflict: int = 0
    rows_bad: int = 0
    problems: list[RowProblem] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        return {**asdict(self), "problems": [asdict(p) for p in self.problems]}


def resident_id_ok(value: str) -> bool:
    """GB 11643 as the branch's sale form checks it (the center may not import the branch's code)."""
    if not re.fullmatch(r"[0-9]{17}[0-9X]", value):
        return False
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    if born > date.today() or born.year < 1900:
        return False
    return _ID_CHECK[sum(int(d) * w for d, w in zip(value[:17], _ID_WEIGHTS)) % 11] == value[17]


def read_rows(data: bytes, file_name: str) -> list[tuple[int, dict[str, str]]]:
    """(line number, {column: text}) for each data row; the header names the columns."""
    if file_name.lower().endswith(".xlsx") or data[:4] == b"PK\x03\x04":
        try:
            wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds for a damaged file
            raise LedgerFormatError(f"不是可读的 XLSX 文件 / not a readable XLSX file: {exc}") from exc
        sheet = wb.worksheets[0]
        table = [["" if v is None else _cell_text(v) for v in row] for row in sheet.iter_rows(values_only=True)]
        wb.close()
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise LedgerFormatError("文件不是 UTF-8 编码 / the file is not UTF-8 encoded") from exc
        table = list(csv.reader(io.StringIO(text)))
    if not table:
        raise LedgerFormatError("文件为空 / the file is empty")
    names = {alias.strip().lower(): key for key, aliases in COLUMNS.items() for alias in aliases}
    header = [names.get(h.strip().lower(), "") for h in table[0]]
    missing = [k for k in REQUIRED if k not in header]
    if missing:
        raise LedgerFormatError(f"缺少列 / missing columns: {', '.join(missing)}")
    if len(table) - 1 > MAX_ROWS:
        raise LedgerFormatError(f"超过 {MAX_ROWS} 行 / more than {MAX_ROWS} rows")
    out = []
    for i, row in enumerate(table[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        out.append((i, {k: (row[j].strip() if j < len(row) else "") for j, k in enumerate(header) if k}))
    return out


def _cell_text(v: object) -> str:
    if isinstance(v, datetime):
        return v.isoformat(sep=" ")
    return str(v)


@dataclass(frozen=True)
class _Sale:
    line: int
    serial: str
    branch_id: int
    staff_code: str
    id_type: str
    id_number: str
    product_id: int
    product_type_id: int
    amount: str
    sold_at: datetime
    sale_day: date

    def content_hash(self) -> str:
        text = "|".join(
            [
                self.serial,
                str(self.branch_id),
                self.staff_code,
                self.id_type,
                self.id_number,
                str(self.product_id),
                self.amount,
                self.sold_at.astimezone(UTC).isoformat(),
            ]
        )
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _validate(
    line: int, row: dict[str, str], branches: dict[str, tuple[int, str]], products: dict[str, tuple[int, int]]
) -> _Sale | list[RowProblem]:
    problems: list[RowProblem] = []
    serial = row.get("serial", "")

    def bad(fld: str, reason: str) -> None:
        problems.append(RowProblem(line, fld, reason, serial))

    if not _SERIAL.match(serial):
        bad("serial", "业务单号须为 1-64 位字母、数字、-、_ / serial must be 1-64 letters, digits, - or _")
    branch = branches.get(row.get("branch", ""))
    if branch is None:
        bad("branch", "未知网点 / unknown branch")
    staff = row.get("staff_code", "")
    if not re.fullmatch(r"[0-9]{7}", staff):
        bad("staff_code", "客户经理工号须为 7 位数字 / staff code must be 7 digits")
    id_type = row.get("customer_id_type", "") or "resident_id"
    id_number = re.sub(r"\s+", "", row.get("customer_id", "")).upper()
    if id_type not in ID_TYPES:
        bad("customer_id_type", f"证件类型须为 {'/'.join(ID_TYPES)} / ID type must be one of {', '.join(ID_TYPES)}")
    elif id_type == "resident_id" and not resident_id_ok(id_number):
        bad("customer_id", "身份证号码校验位或出生日期错误 / resident ID check digit or birth date is wrong")
    elif id_type != "resident_id" and not re.fullmatch(r"[A-Z0-9]{5,32}", id_number):
        bad("customer_id", "证件号码格式错误 / ID number is malformed")
    product = products.get(row.get("product", ""))
    if product is None:
        bad("product", "未知产品代码 / unknown product code")
    amount = row.get("amount", "")
    try:
        ok_amount = bool(_AMOUNT.match(amount)) and Decimal(amount) > 0
    except InvalidOperation:
        ok_amount = False
    if not ok_amount:
        bad("amount", "金额须为正数且保留两位小数(如 10000.00)/ amount must be positive with two decimals (10000.00)")
    sold_at: datetime | None = None
    try:
        parsed = datetime.fromisoformat(row.get("sold_at", ""))
        if branch is not None:
            sold_at = parsed if parsed.tzinfo else parsed.replace(tzinfo=ZoneInfo(branch[1]))
    except ValueError:
        bad("sold_at", "交易时间须为 ISO 8601(如 2026-11-02 09:30:00+08:00)/ time must be ISO 8601")
    if problems or branch is None or product is None or sold_at is None:
        return problems
    return _Sale(
        line,
        serial,
        branch[0],
        staff,
        id_type,
        id_number,
        product[0],
        product[1],
        amount,
        sold_at.astimezone(UTC),
        sold_at.astimezone(ZoneInfo(branch[1])).date(),
    )


def import_ledger(db: Session, data: bytes, file_name: str, actor: str, source: str) -> ImportOutcome:
    """Reads, validates and stores new rows in one transaction; raises LedgerFormatError for an unreadable file."""
    rows = read_rows(data, file_name)
    branches = {code: (bid, tz) for bid, code, tz in db.execute(select(Branch.id, Branch.code, Branch.timezone))}
    products = {
        code: (pid, tid) for pid, code, tid in db.execute(select(Product.id, Product.code, Product.product_type_id))
    }
    record = LedgerImport(
        source=source,
        file_name=file_name[:200],
        file_sha256=hashlib.sha256(data).hexdigest(),
        actor=actor,
        rows_total=len(rows),
        rows_new=0,
        rows_same=0,
        rows_conflict=0,
        rows_bad=0,
    )
    db.add(record)
    db.flush()
    out = ImportOutcome(import_id=record.id, rows_total=len(rows))
    valid: dict[str, tuple[_Sale, str]] = {}
    for line, row in rows:
        checked = _validate(line, row, branches, products)
        if isinstance(checked, list):
            out.rows_bad += 1
            out.problems.extend(checked)
            continue
        digest = checked.content_hash()
        earlier = valid.get(checked.serial)
        if earlier is not None:
            if earlier[1] == digest:
                out.rows_same += 1
            else:
                out.rows_conflict += 1
                out.problems.append(
                    _conflict(
                        line, checked.serial, f"与本文件第 {earlier[0].line} 行 / line {earlier[0].line} of this file"
                    )
                )
            continue
        valid[checked.serial] = (checked, digest)
    stored: dict[str, str] = {}
    serials = list(valid)
    for i in range(0, len(serials), 1000):
        chunk = serials[i : i + 1000]
        stored.update(
            db.execute(
                select(LedgerSale.business_serial, LedgerSale.content_sha256).where(
                    LedgerSale.business_serial.in_(chunk)
                )
            )
            .tuples()
            .all()
        )
    new_rows = []
    for serial, (sale, digest) in valid.items():
        if serial in stored:
            if stored[serial] == digest:
                out.rows_same += 1
            else:
                out.rows_conflict += 1
                out.problems.append(_conflict(sale.line, serial, "与已导入的记录 / the row imported before"))
            continue
        new_rows.append(
            {
                "business_serial": serial,
                "branch_id": sale.branch_id,
                "staff_code": sale.staff_code,
                "customer_id_type": sale.id_type,
                "customer_id_number": sale.id_number,
                "product_id": sale.product_id,
                "product_type_id": sale.product_type_id,
                "amount": sale.amount,
                "sold_at": sale.sold_at,
                "sale_day": sale.sale_day,
                "content_sha256": digest,
                "import_id": record.id,
            }
        )
    for i in range(0, len(new_rows), 5000):
        db.execute(insert(LedgerSale), new_rows[i : i + 5000])
    out.rows_new = len(new_rows)
    out.problems.sort(key=lambda p: (p.line, p.field))
    record.rows_new, record.rows_same = out.rows_new, out.rows_same
    record.rows_conflict, record.rows_bad = out.rows_conflict, out.rows_bad
    record.problems_json = json.dumps([asdict(p) for p in out.problems[:MAX_PROBLEMS_KEPT]], ensure_ascii=False)
    audit.append(
        db,
        actor,
        "ledger.imported",
        f"ledger-import:{record.id}",
        {
            "source": source,
            "file": record.file_name,
            "sha256": record.file_sha256,
            "total": out.rows_total,
            "new": out.rows_new,
            "same": out.rows_same,
            "conflict": out.rows_conflict,
            "bad": out.rows_bad,
        },
    )
    db.commit()
    return out


def _conflict(line: int, serial: str, other: str) -> RowProblem:
    return RowProblem(
        line,
        "serial",
        f"同一业务单号内容不同({other}),未覆盖 / same serial with different content ({other}); not overwritten",
        serial,
    )
