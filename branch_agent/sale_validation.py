"""Validates the sale form: each wrong field gets its own message, in Chinese and English."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
ID_TYPES = ("resident_id", "passport", "hk_macao_permit", "taiwan_permit")
_FORMATS = {
    "passport": re.compile(r"^[A-Z0-9]{5,17}$"),
    "hk_macao_permit": re.compile(r"^[HM][0-9]{8,10}$|^C[A-Z0-9][0-9]{7}$"),
    "taiwan_permit": re.compile(r"^[0-9]{8}$|^[0-9]{10}$"),
}


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


def resident_id_ok(value: str) -> bool:
    """GB 11643: 17 digits, a valid birth date, and the ISO 7064 MOD 11-2 check character."""
    if not re.fullmatch(r"[0-9]{17}[0-9X]", value):
        return False
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    if born > date.today() or born.year < 1900:
        return False
    total = sum(int(d) * w for d, w in zip(value[:17], _ID_WEIGHTS))
    return _ID_CHECK[total % 11] == value[17]


def luhn_ok(value: str) -> bool:
    if not re.fullmatch(r"[0-9]{12,19}", value):
        return False
    total = 0
    for i, ch in enumerate(reversed(value)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def validate_sale(form: dict[str, str], product_codes: set[str]) -> list[FieldError]:
    errors: list[FieldError] = []
    serial = form.get("business_serial", "").strip()
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", serial):
        errors.append(FieldError("business_serial", "业务单号只能包含字母、数字、- 和 _ / serial number: letters, digits, - and _ only"))
    name = form.get("customer_name", "").strip()
    if not 1 <= len(name) <= 100:
        errors.append(FieldError("customer_name", "请输入客户姓名 / customer name is required"))
    id_type = form.get("id_type", "")
    id_number = form.get("id_number", "").strip().upper()
    if id_type not in ID_TYPES:
        errors.append(FieldError("id_type", "请选择证件类型 / choose an ID type"))
    elif id_type == "resident_id" and not resident_id_ok(id_number):
        errors.append(FieldError("id_number", "身份证号码校验失败 / resident ID number fails its check digit or date"))
    elif id_type != "resident_id" and not _FORMATS[id_type].match(id_number):
        errors.append(FieldError("id_number", "证件号码格式不正确 / ID number format is wrong for this ID type"))
    if not luhn_ok(form.get("card_number", "").strip()):
        errors.append(FieldError("card_number", "银行卡号校验失败 / card number fails the Luhn check"))
    if form.get("product_code", "") not in product_codes:
        errors.append(FieldError("product_code", "请选择产品 / choose a product from the catalogue"))
    if str(form.get("consent", "")).lower() not in ("1", "true", "on", "yes"):
        errors.append(FieldError("consent", "客户未同意录音录像，不能开始 / the customer has not consented: no recording"))
    return errors
