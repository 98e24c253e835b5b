"""The sale form: each wrong field named with its own message."""

from __future__ import annotations

from branch_agent.counter.sale_validation import luhn_ok, resident_id_ok, validate_sale

GOOD = {
    "business_serial": "SN-1",
    "customer_name": "张三",
    "id_type": "resident_id",
    "id_number": "11010519491231002X",
    "card_number": "6222021234567890128",
    "product_code": "P1",
    "consent": "1",
}


def test_resident_id_check_digit_and_birth_date() -> None:
    assert resident_id_ok("11010519491231002X")
    assert not resident_id_ok("110105194912310021")  # wrong check character
    assert not resident_id_ok("11010519491331002X")  # month 13
    assert not resident_id_ok("1101051949123100")


def test_luhn() -> None:
    assert luhn_ok("6222021234567890128")
    assert not luhn_ok("6222021234567890129")
    assert not luhn_ok("62220212345a")


def test_each_bad_field_gets_its_message() -> None:
    assert validate_sale(GOOD, {"P1"}) == []
    bad = {**GOOD, "id_number": "110105194912310021", "card_number": "123", "consent": "", "product_code": "X"}
    fields = {e.field for e in validate_sale(bad, {"P1"})}
    assert fields == {"id_number", "card_number", "consent", "product_code"}
    passport = {**GOOD, "id_type": "passport", "id_number": "E1234567"}
    assert validate_sale(passport, {"P1"}) == []
