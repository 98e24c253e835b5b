"""MANSCDP+xml bodies (GB/T 28181 annex A): ``<Notify|Query|Response|Control>`` with CmdType, SN, DeviceID.

Cameras declare GB2312 and mostly send GB2312 bytes, but some declare GB2312 and send UTF-8, or
declare nothing. GB18030 decodes almost any byte string (into nonsense), whereas GB-encoded
Chinese is almost never valid UTF-8; so strict UTF-8 is tried first, then the declared charset
(GB2312/GBK read as GB18030, their superset), and a channel name like 营业厅 survives either way.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

CONTENT_TYPE = "Application/MANSCDP+xml"
ROOTS = ("Notify", "Query", "Response", "Control")
_DECLARED = re.compile(rb"""<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9_.-]+)["']""")
_GB_FAMILY = {"gb2312", "gbk", "gb18030", "gb_2312-80", "cp936"}


class ManscdpError(ValueError):
    """A body that is not a MANSCDP message; the message says what is missing."""


@dataclass(frozen=True)
class ManscdpMessage:
    root: str
    cmd_type: str
    sn: int
    device_id: str
    # Other top-level elements as text (Status, Result, SumNum, …); nested lists are left to
    # the command that needs them, via ``xml``.
    fields: dict[str, str] = field(default_factory=dict)
    xml: str = field(default="", repr=False)


def decode_body(body: bytes, content_type: str | None = None) -> str:
    charsets: list[str] = []
    if content_type and (m := re.search(r"charset\s*=\s*\"?([A-Za-z0-9_.-]+)", content_type)):
        charsets.append(m.group(1))
    if declared := _DECLARED.search(body[:200]):
        charsets.append(declared.group(1).decode("ascii"))
    tried: list[str] = []
    for name in ["utf-8", *charsets, "gb18030"]:
        codec = "gb18030" if name.lower() in _GB_FAMILY else name
        if codec in tried:
            continue
        tried.append(codec)
        try:
            return body.decode(codec)
        except (UnicodeDecodeError, LookupError):
            continue
    raise ManscdpError(f"body is neither {', '.join(tried)}")


def parse_manscdp(body: bytes, content_type: str | None = None) -> ManscdpMessage:
    if not body.strip():
        raise ManscdpError("empty MANSCDP body")
    text = decode_body(body, content_type)
    # ElementTree refuses a str that still declares an encoding; the bytes are decoded already.
    text = re.sub(r"^\s*<\?xml[^>]*\?>", "", text, count=1)
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ManscdpError(f"MANSCDP body is not well-formed XML: {exc}") from None
    if root.tag not in ROOTS:
        raise ManscdpError(f"MANSCDP root must be one of {', '.join(ROOTS)}, got <{root.tag}>")
    values = {child.tag: (child.text or "").strip() for child in root if len(child) == 0}
    for required in ("CmdType", "SN", "DeviceID"):
        if not values.get(required):
            raise ManscdpError(f"<{root.tag}> lacks <{required}>")
    if not (values["SN"].isascii() and values["SN"].isdigit()) or len(values["SN"]) > 18:
        raise ManscdpError(f"<SN> must be a number, got {values['SN']!r}")
    fields = {k: v for k, v in values.items() if k not in ("CmdType", "SN", "DeviceID")}
    return ManscdpMessage(
        root=root.tag,
        cmd_type=values["CmdType"],
        sn=int(values["SN"]),
        device_id=values["DeviceID"],
        fields=fields,
        xml=text,
    )


def build_manscdp(root: str, cmd_type: str, sn: int, device_id: str, **fields: str) -> bytes:
    """A GB2312-encoded body, the charset cameras expect from a platform."""
    if root not in ROOTS:
        raise ManscdpError(f"MANSCDP root must be one of {', '.join(ROOTS)}, got {root!r}")
    element = ET.Element(root)
    for tag, value in (("CmdType", cmd_type), ("SN", str(sn)), ("DeviceID", device_id), *fields.items()):
        ET.SubElement(element, tag).text = value
    xml = ET.tostring(element, encoding="unicode")
    return ('<?xml version="1.0" encoding="GB2312"?>\r\n' + xml + "\r\n").encode("gb18030")
