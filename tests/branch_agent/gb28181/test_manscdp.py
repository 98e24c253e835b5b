"""MANSCDP+xml bodies in the charsets cameras really send."""

from __future__ import annotations

import pytest

from branch_agent.gb28181.manscdp import ManscdpError, build_manscdp, parse_manscdp

CATALOG_ITEM = (
    '<?xml version="1.0" encoding="{decl}"?>\r\n<Response>\r\n<CmdType>Catalog</CmdType>\r\n'
    "<SN>17</SN>\r\n<DeviceID>34020000001320000264</DeviceID>\r\n<SumNum>1</SumNum>\r\n"
    "<Name>营业厅环境摄像机</Name>\r\n</Response>\r\n"
)


@pytest.mark.parametrize(
    ("decl", "codec"),
    [("GB2312", "gb2312"), ("GB18030", "gb18030"), ("GBK", "gbk"), ("GB2312", "utf-8"), ("UTF-8", "utf-8")],
)
def test_chinese_names_survive_declared_and_actual_charsets(decl: str, codec: str) -> None:
    body = CATALOG_ITEM.format(decl=decl).encode(codec)
    message = parse_manscdp(body)
    assert (message.root, message.cmd_type, message.sn, message.device_id) == (
        "Response",
        "Catalog",
        17,
        "34020000001320000264",
    )
    assert message.fields["Name"] == "营业厅环境摄像机"
    assert message.fields["SumNum"] == "1"


def test_undeclared_gb_bytes_are_still_read() -> None:
    body = CATALOG_ITEM.format(decl="X").replace(' encoding="X"', "").encode("gb18030")
    assert parse_manscdp(body).fields["Name"] == "营业厅环境摄像机"


def test_built_body_is_gb2312_and_parses_back() -> None:
    body = build_manscdp("Query", "Catalog", 5, "34020000001320000264")
    assert body.startswith(b'<?xml version="1.0" encoding="GB2312"?>')
    message = parse_manscdp(body)
    assert (message.root, message.cmd_type, message.sn) == ("Query", "Catalog", 5)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty"),
        (b"<Notify><CmdType>Keepalive</CmdType>", "not well-formed"),
        (b"<Hello><CmdType>Keepalive</CmdType></Hello>", "root must be one of"),
        (b"<Notify><CmdType>Keepalive</CmdType><SN>1</SN></Notify>", "lacks <DeviceID>"),
        (b"<Notify><CmdType>Keepalive</CmdType><SN>x</SN><DeviceID>1</DeviceID></Notify>", "<SN> must be a number"),
    ],
)
def test_bad_bodies_get_clear_errors(body: bytes, message: str) -> None:
    with pytest.raises(ManscdpError, match=message):
        parse_manscdp(body)


def test_unicode_digit_sn_is_a_clear_error() -> None:
    body = "<Notify><CmdType>Keepalive</CmdType><SN>²</SN><DeviceID>34020000001320000264</DeviceID></Notify>"
    with pytest.raises(ManscdpError, match="SN"):
        parse_manscdp(body.encode())
