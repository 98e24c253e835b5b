"""SDP (RFC 4566) as GB/T 28181-2016 uses it to set up live video (section 9.2, annex F).

GB/T 28181 adds two lines RFC 4566 does not know: ``y=`` (the 10-digit SSRC the sender must put
in its RTP packets: first digit 0 for live, 1 for playback, then five digits of the SIP domain,
then a four-digit sequence) and ``f=`` (the media parameters the camera actually uses). Cameras
also send bare LF line ends, spaces around ``=``, upper-case types and no ``s=``; the parser
accepts all of that and only refuses what leaves the media unlocatable: no ``m=`` or no ``c=``.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Literal

# GB/T 28181-2016 9.2.2: PS over RTP is the mandatory format; H.264 and MPEG-4 may be offered.
DEFAULT_RTPMAP = {96: "PS/90000", 98: "H264/90000", 97: "MPEG4/90000"}


# How the media receiver spells a transport.
GbTransport = Literal["udp", "tcp-passive", "tcp-active"]


class SdpError(ValueError):
    """An SDP body the media cannot be set up from; the message says which line is missing."""


class MediaTransport(enum.Enum):
    """How RTP travels: UDP, or RTP over TCP (RFC 4571 framing) with either side listening."""

    UDP = "udp"
    # The platform listens and the camera connects (a=setup:passive in the platform's offer).
    TCP_PASSIVE = "tcp_passive"
    # The camera listens and the platform connects (a=setup:active in the platform's offer).
    TCP_ACTIVE = "tcp_active"

    @classmethod
    def _missing_(cls, value: object) -> MediaTransport | None:
        # "tcp-passive" (the media receiver's spelling) and any case mean the same thing.
        if isinstance(value, str):
            key = value.strip().lower().replace("-", "_")
            for member in cls:
                if member.value == key:
                    return member
        return None

    @property
    def receiver_name(self) -> GbTransport:
        """The spelling media_receiver.ReceiverSettings.transport uses: udp, tcp-passive, tcp-active."""
        if self is MediaTransport.TCP_PASSIVE:
            return "tcp-passive"
        if self is MediaTransport.TCP_ACTIVE:
            return "tcp-active"
        return "udp"

    @property
    def is_tcp(self) -> bool:
        return self is not MediaTransport.UDP

    @property
    def protocol(self) -> str:
        return "TCP/RTP/AVP" if self.is_tcp else "RTP/AVP"


@dataclass(frozen=True)
class MediaDescription:
    media: str  # "video", "audio"
    port: int
    protocol: str  # "RTP/AVP" or "TCP/RTP/AVP"
    formats: tuple[str, ...]
    # ``a=name:value`` lines in order; flags such as ``a=recvonly`` have the value None.
    attributes: tuple[tuple[str, str | None], ...] = ()
    connection_host: str | None = None

    def attribute(self, name: str) -> str | None:
        for key, value in self.attributes:
            if key == name:
                return value
        return None

    def has_flag(self, name: str) -> bool:
        return any(key == name for key, _ in self.attributes)

    @property
    def rtpmap(self) -> dict[int, str]:
        out: dict[int, str] = {}
        for key, value in self.attributes:
            if key == "rtpmap" and value:
                number, _, codec = value.partition(" ")
                if _digits(number.strip()) and len(number.strip()) <= 3:
                    out[int(number)] = codec.strip()
        return out

    @property
    def is_tcp(self) -> bool:
        return self.protocol.upper().startswith("TCP")

    @property
    def setup(self) -> str | None:
        value = self.attribute("setup")
        return value.lower() if value else None


@dataclass(frozen=True)
class SessionDescription:
    origin: str = ""
    session_name: str = ""
    connection_host: str | None = None
    media: tuple[MediaDescription, ...] = ()
    ssrc: str | None = None  # y=
    format_params: str | None = None  # f=
    attributes: tuple[tuple[str, str | None], ...] = ()
    # Lines the parser did not recognise, kept so a log can show what a camera sent.
    unknown: tuple[str, ...] = field(default=(), repr=False)

    @property
    def video(self) -> MediaDescription:
        for media in self.media:
            if media.media == "video":
                return media
        return self.media[0]

    def media_host(self, media: MediaDescription | None = None) -> str:
        """The address of ``media`` (default: the video stream): its own c= or the session's."""
        chosen = media or self.video
        host = chosen.connection_host or self.connection_host
        assert host is not None  # parse_sdp refuses a body without any c=
        return host


_LINE = re.compile(r"^\s*([A-Za-z])\s*=\s*(.*?)\s*$")


def _digits(text: str) -> bool:
    """0-9 only: ``str.isdigit`` also takes '²' or '６', which ``int`` refuses or misreads."""
    return text.isascii() and text.isdigit()


def parse_sdp(body: bytes | str) -> SessionDescription:
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    session: dict[str, str | None] = {"o": "", "s": "", "c": None, "y": None, "f": None}
    session_attrs: list[tuple[str, str | None]] = []
    unknown: list[str] = []
    media: list[_MediaLines] = []
    for raw in re.split(r"\r\n|\r|\n", text):
        if not raw.strip():
            continue
        match = _LINE.match(raw)
        if not match:
            unknown.append(raw)
            continue
        kind, value = match.group(1).lower(), match.group(2)
        current = media[-1] if media else None
        if kind == "m":
            media.append(_media_line(value))
        elif kind == "c":
            host = _connection_host(value)
            if current is not None:
                current.connection_host = host
            else:
                session["c"] = host
        elif kind == "a":
            name, sep, attr_value = value.partition(":")
            attr = (name.strip().lower(), attr_value.strip() if sep else None)
            if current is not None:
                current.attributes.append(attr)
            else:
                session_attrs.append(attr)
        elif kind == "y":
            # Some cameras put y= after m= or even before v=; it is always session-wide.
            session["y"] = value.strip()
        elif kind == "f":
            session["f"] = value.strip()
        elif kind in ("o", "s"):
            session[kind] = value
        elif kind not in ("v", "t", "b", "u", "e", "p", "i", "k", "z", "r"):
            unknown.append(raw)
    if not media:
        raise SdpError("SDP has no m= line: nothing says which port the media uses")
    descriptions = tuple(m.description() for m in media)
    if session["c"] is None and any(d.connection_host is None for d in descriptions):
        raise SdpError("SDP has no c= line: nothing says which address the media uses")
    return SessionDescription(
        origin=session["o"] or "",
        session_name=session["s"] or "",
        connection_host=session["c"],
        media=descriptions,
        ssrc=session["y"],
        format_params=session["f"],
        attributes=tuple(session_attrs),
        unknown=tuple(unknown),
    )


@dataclass
class _MediaLines:
    """An m= section while its lines are read."""

    media: str
    port: int
    protocol: str
    formats: list[str]
    attributes: list[tuple[str, str | None]] = field(default_factory=list)
    connection_host: str | None = None

    def description(self) -> MediaDescription:
        return MediaDescription(
            media=self.media,
            port=self.port,
            protocol=self.protocol,
            formats=tuple(self.formats),
            attributes=tuple(self.attributes),
            connection_host=self.connection_host,
        )


def _media_line(value: str) -> _MediaLines:
    parts = value.split()
    if len(parts) < 3:
        raise SdpError(f"m= line needs '<media> <port> <proto> [formats]', got {value!r}")
    port_text = parts[1].split("/")[0]  # "port/count" is allowed by RFC 4566
    if not _digits(port_text) or len(port_text) > 5 or int(port_text) > 65535:
        raise SdpError(f"m= line port must be 0-65535, got {parts[1]!r}")
    return _MediaLines(media=parts[0].lower(), port=int(port_text), protocol=parts[2].upper(), formats=parts[3:])


def _connection_host(value: str) -> str:
    parts = value.split()
    if len(parts) < 3 or parts[0].upper() != "IN":
        raise SdpError(f"c= line must be 'IN IP4 <address>', got {value!r}")
    # Multicast "addr/ttl" keeps only the address.
    return parts[2].split("/")[0]


def make_ssrc(domain: str, sequence: int, playback: bool = False) -> str:
    """The 10-digit y= value of GB/T 28181-2016 9.2.2 / annex F: [0|1] + domain digits 4-8 + seq."""
    if len(domain) != 10 or not _digits(domain):
        raise ValueError(f"SIP domain must be 10 digits, got {domain!r}")
    if not 0 <= sequence <= 9999:
        raise ValueError(f"SSRC sequence must be 0-9999, got {sequence}")
    return f"{1 if playback else 0}{domain[3:8]}{sequence:04d}"


def build_play_offer(
    *,
    platform_id: str,
    host: str,
    port: int,
    ssrc: str,
    transport: MediaTransport = MediaTransport.UDP,
    session_name: str = "Play",
    rtpmap: dict[int, str] | None = None,
    format_params: str | None = None,
) -> bytes:
    """The platform's offer for live video: receive only, PS first (GB/T 28181-2016 9.2.2)."""
    if not (len(ssrc) == 10 and _digits(ssrc)):
        raise ValueError(f"SSRC must be 10 digits, got {ssrc!r}")
    payloads = rtpmap or DEFAULT_RTPMAP
    lines = [
        "v=0",
        f"o={platform_id} 0 0 IN IP4 {host}",
        f"s={session_name}",
        f"c=IN IP4 {host}",
        "t=0 0",
        f"m=video {port} {transport.protocol} {' '.join(str(n) for n in payloads)}",
        "a=recvonly",
        *(f"a=rtpmap:{n} {codec}" for n, codec in payloads.items()),
    ]
    if transport.is_tcp:
        # Our role: passive = we listen and the camera connects; active = we connect.
        lines.append("a=setup:passive" if transport is MediaTransport.TCP_PASSIVE else "a=setup:active")
        lines.append("a=connection:new")
    lines.append(f"y={ssrc}")
    if format_params is not None:
        lines.append(f"f={format_params}")
    return ("\r\n".join(lines) + "\r\n").encode("ascii")
