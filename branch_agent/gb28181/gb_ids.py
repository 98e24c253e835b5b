"""GB/T 28181 20-digit identities (annex D of GB/T 28181-2016).

Digits 1–8 are the centre code (province, city, district, grassroots unit, two digits each),
9–10 the industry, 11–13 the type of device, 14 the network, 15–20 a serial number. A camera
registers with its device ID and reports its channels (usually type 131/132) in the catalogue;
the platform's own ID has a type in the 200s.
"""

from __future__ import annotations

from dataclasses import dataclass

TYPE_NAMES: dict[int, str] = {
    111: "DVR",
    112: "video server",
    113: "encoder",
    114: "decoder",
    115: "video switching matrix",
    116: "audio switching matrix",
    117: "alarm controller",
    118: "NVR",
    130: "hybrid video recorder",
    131: "camera",
    132: "IP camera",
    133: "display",
    134: "alarm input",
    135: "alarm output",
    136: "audio input",
    137: "audio output",
    138: "mobile transmission device",
    139: "other peripheral",
    200: "central signalling server",
    201: "web application server",
    202: "media distribution server",
    203: "proxy server",
    204: "security server",
    205: "alarm server",
    206: "database server",
    207: "GIS server",
    208: "management server",
    209: "access gateway",
    210: "media storage server",
    211: "signalling security routing gateway",
    215: "business group",
    216: "virtual organisation",
    300: "central user",
    400: "terminal user",
}

NETWORK_NAMES = {
    **{d: "video private network" for d in range(5)},
    5: "public security network",
    6: "government network",
    7: "internet",
    8: "social resources network",
    9: "reserved",
}


class InvalidGbId(ValueError):
    """Not a GB/T 28181 identity; the message names the value and what is wrong with it."""


@dataclass(frozen=True)
class GbId:
    raw: str
    centre_code: str
    industry: str
    type_code: int
    network: int
    serial: str

    @property
    def province(self) -> str:
        return self.centre_code[0:2]

    @property
    def city(self) -> str:
        return self.centre_code[2:4]

    @property
    def district(self) -> str:
        return self.centre_code[4:6]

    @property
    def type_name(self) -> str:
        if self.type_code in TYPE_NAMES:
            return TYPE_NAMES[self.type_code]
        return f"type {self.type_code} (reserved or extension)"

    @property
    def domain(self) -> str:
        """The 10-digit SIP domain (centre code + industry) devices commonly use as realm."""
        return self.raw[:10]

    @property
    def is_front_end_device(self) -> bool:
        return 111 <= self.type_code <= 130

    @property
    def is_camera(self) -> bool:
        return self.type_code in (131, 132)

    @property
    def is_platform(self) -> bool:
        return 200 <= self.type_code <= 299

    def __str__(self) -> str:
        return self.raw


def parse_gb_id(value: str, what: str = "GB/T 28181 ID") -> GbId:
    """Validate and split an ID; ``what`` names it in the error ("device ID", "server ID", …)."""
    if not isinstance(value, str):
        raise InvalidGbId(f"{what} must be a string of 20 digits, got {type(value).__name__}")
    text = value.strip()
    if len(text) != 20:
        raise InvalidGbId(f"{what} {value!r} must be exactly 20 digits, it has {len(text)} characters")
    if not text.isascii() or not text.isdigit():
        bad = next(ch for ch in text if not (ch.isascii() and ch.isdigit()))
        raise InvalidGbId(f"{what} {value!r} must be digits only, found {bad!r}")
    province = int(text[0:2])
    if province < 11:
        # Administrative division codes start at 11 (Beijing); 00–10 is no province.
        raise InvalidGbId(f"{what} {value!r} has province code {text[0:2]}, expected 11 or above")
    return GbId(
        raw=text,
        centre_code=text[0:8],
        industry=text[8:10],
        type_code=int(text[10:13]),
        network=int(text[13]),
        serial=text[14:20],
    )


def is_gb_id(value: str) -> bool:
    try:
        parse_gb_id(value)
    except InvalidGbId:
        return False
    return True


def parse_domain(value: str, what: str = "SIP domain") -> str:
    """The 10-digit domain (centre code + industry) used as the digest realm."""
    text = value.strip()
    if len(text) != 10 or not text.isascii() or not text.isdigit():
        raise InvalidGbId(f"{what} {value!r} must be exactly 10 digits")
    return text
