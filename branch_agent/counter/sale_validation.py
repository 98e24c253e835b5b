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


SALE_FIELDS = ("business_serial", "customer_name", "id_type", "id_number", "card_number", "product_code", "consent")


def normalise_sale_form(form: dict[str, str]) -> dict[str, str]:
    """Trims what was typed or pasted: spaces inside ID and card numbers, lower-case ID letters."""
    out = {k: str(form.get(k, "")).strip() for k in SALE_FIELDS}
    out["id_number"] = re.sub(r"\s+", "", out["id_number"]).upper()
    out["card_number"] = re.sub(r"[\s-]+", "", out["card_number"])
    return out


def _id_number_error(id_type: str, id_number: str) -> str | None:
    if not id_number:
        return "请输入证件号码 / ID number is required"
    if id_type == "resident_id":
        if not re.fullmatch(r"[0-9]{17}[0-9X]", id_number):
            return "身份证号码应为18位：17位数字加1位数字或X / resident ID: 17 digits and a digit or X"
        if not resident_id_ok(id_number):
            return "身份证号码出生日期或校验位错误 / resident ID fails its birth date or check digit"
        return None
    if not _FORMATS[id_type].match(id_number):
        return {
            "passport": "护照号码应为5–17位字母或数字 / passport number: 5 to 17 letters or digits",
            "hk_macao_permit": "港澳证件号码格式不正确（如 C12345678、H12345678） / HK/Macao permit number format is wrong",
            "taiwan_permit": "台湾证件号码应为8位或10位数字 / Taiwan permit number: 8 or 10 digits",
        }[id_type]
    return None


def validate_sale(form: dict[str, str], product_codes: set[str]) -> list[FieldError]:
    form = normalise_sale_form(form)
    errors: list[FieldError] = []
    serial = form["business_serial"]
    if not serial:
        errors.append(FieldError("business_serial", "请输入或生成业务单号 / enter or generate the serial number"))
    elif not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", serial):
        errors.append(
            FieldError(
                "business_serial",
                "业务单号只能包含字母、数字、- 和 _，最多64位 / serial number: up to 64 letters, digits, - and _",
            )
        )
    name = form["customer_name"]
    if not name:
        errors.append(FieldError("customer_name", "请输入客户姓名 / customer name is required"))
    elif len(name) > 100:
        errors.append(FieldError("customer_name", "客户姓名最多100字 / customer name: at most 100 characters"))
    id_type = form["id_type"]
    if id_type not in ID_TYPES:
        errors.append(FieldError("id_type", "请选择证件类型 / choose an ID type"))
    else:
        problem = _id_number_error(id_type, form["id_number"])
        if problem:
            errors.append(FieldError("id_number", problem))
    card = form["card_number"]
    if not card:
        errors.append(FieldError("card_number", "请输入银行卡号 / card number is required"))
    elif not re.fullmatch(r"[0-9]{12,19}", card):
        errors.append(FieldError("card_number", "银行卡号应为12–19位数字 / card number: 12 to 19 digits"))
    elif not luhn_ok(card):
        errors.append(
            FieldError("card_number", "银行卡号校验失败，请核对 / card number fails the Luhn check, please re-check it")
        )
    if form["product_code"] not in product_codes:
        errors.append(FieldError("product_code", "请选择产品 / choose a product from the catalogue"))
    if form["consent"].lower() not in ("1", "true", "on", "yes"):
        errors.append(
            FieldError("consent", "客户未同意录音录像，不能开始 / the customer has not consented: no recording")
        )
    return errors
