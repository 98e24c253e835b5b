"""Building blocks for reconciliation tests: valid resident IDs, ledger files, a reconciled day."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
DAY = date(2026, 11, 2)
HEADER = ["serial", "branch", "staff_code", "customer_id", "product", "amount", "sold_at"]


def resident_id(n: int) -> str:
    """A valid GB 11643 number (born 1980-01-01), different for each n."""
    body = f"11010119800101{n % 1000:03d}"
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, _WEIGHTS)) % 11]


def ledger_csv(rows: list[list[str]], bom: bool = True) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(HEADER)
    w.writerows(rows)
    return (("\ufeff" if bom else "") + buf.getvalue()).encode("utf-8")


def sale(
    serial: str,
    customer: str,
    sold_at: datetime,
    product: str = "P-90",
    amount: str = "10000.00",
    staff: str = "1000001",
    branch: str = "B009",
) -> list[str]:
    return [serial, branch, staff, customer, product, amount, sold_at.isoformat()]
