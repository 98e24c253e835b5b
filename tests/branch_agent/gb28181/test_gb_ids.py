"""20-digit GB/T 28181 identities."""

from __future__ import annotations

import pytest

from branch_agent.gb28181.gb_ids import InvalidGbId, is_gb_id, parse_domain, parse_gb_id


def test_camera_id_is_split_into_its_parts() -> None:
    gid = parse_gb_id("34020000001320000264")
    assert (gid.centre_code, gid.industry, gid.type_code, gid.network, gid.serial) == (
        "34020000",
        "00",
        132,
        0,
        "000264",
    )
    assert (gid.province, gid.city, gid.district) == ("34", "02", "00")
    assert gid.is_camera and not gid.is_platform
    assert gid.type_name == "IP camera"
    assert gid.domain == "3402000000"
    assert str(gid) == "34020000001320000264"


@pytest.mark.parametrize(
    ("value", "type_code", "name"),
    [
        ("34020000001310000001", 131, "camera"),
        ("34020000002000000001", 200, "central signalling server"),
        ("44010200491180000001", 118, "NVR"),
        ("34020000001990000001", 199, "type 199 (reserved or extension)"),
    ],
)
def test_type_codes(value: str, type_code: int, name: str) -> None:
    gid = parse_gb_id(value)
    assert gid.type_code == type_code
    assert gid.type_name == name


def test_platform_id() -> None:
    assert parse_gb_id("34020000002000000001").is_platform
    assert parse_gb_id("34020000001180000001").is_front_end_device


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("3402000000132000026", "exactly 20 digits, it has 19"),
        ("340200000013200002640", "exactly 20 digits, it has 21"),
        ("3402000000132000026A", "digits only, found 'A'"),
        ("３４020000001320000264", "digits only"),
        ("00020000001320000264", "province code 00"),
    ],
)
def test_invalid_ids_are_named_in_the_error(value: str, message: str) -> None:
    with pytest.raises(InvalidGbId, match=message) as info:
        parse_gb_id(value, "device ID")
    assert "device ID" in str(info.value)
    assert not is_gb_id(value)


def test_domain() -> None:
    assert parse_domain("3402000000") == "3402000000"
    with pytest.raises(InvalidGbId, match="10 digits"):
        parse_domain("340200000")
