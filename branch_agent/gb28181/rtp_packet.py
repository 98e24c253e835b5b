"""RTP packets (RFC 3550) as GB/T 28181 cameras send them: one fixed header, PS in the payload.

GB/T 28181 media is payload type 96 (PS) on a 90 kHz clock; the SSRC is the one the platform put
in the SDP ``y=`` line. Parsing is strict about the header (a datagram that is not RTP must not be
fed to the demuxer as if it were) but keeps every field, so odd devices can be diagnosed.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

RTP_VERSION = 2
PS_PAYLOAD_TYPE = 96
PS_CLOCK_RATE = 90_000
_FIXED = struct.Struct("!BBHII")


class RtpError(ValueError):
    """The bytes are not a well-formed RTP packet."""


@dataclass(frozen=True)
class RtpExtension:
    """The RFC 3550 §5.3.1 header extension: a profile word and whole 32-bit words of data."""

    profile: int
    data: bytes

    def __post_init__(self) -> None:
        if not 0 <= self.profile <= 0xFFFF:
            raise RtpError(f"extension profile must fit 16 bits, got {self.profile}")
        if len(self.data) % 4:
            raise RtpError(f"extension data must be whole 32-bit words, got {len(self.data)} bytes")


@dataclass(frozen=True)
class RtpPacket:
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes
    marker: bool = False
    csrcs: tuple[int, ...] = ()
    extension: RtpExtension | None = None
    # Bytes of padding after the payload (0 = none); kept so a rebuilt packet is byte-identical.
    padding: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.payload_type <= 127:
            raise RtpError(f"payload type must be 0..127, got {self.payload_type}")
        if not 0 <= self.sequence <= 0xFFFF:
            raise RtpError(f"sequence number must be 0..65535, got {self.sequence}")
        if not 0 <= self.timestamp <= 0xFFFFFFFF or not 0 <= self.ssrc <= 0xFFFFFFFF:
            raise RtpError("timestamp and SSRC must fit 32 bits")
        if len(self.csrcs) > 15:
            raise RtpError(f"at most 15 CSRCs fit the header, got {len(self.csrcs)}")
        if not 0 <= self.padding <= 255:
            raise RtpError(f"padding must be 0..255 bytes, got {self.padding}")

    def to_bytes(self) -> bytes:
        first = (RTP_VERSION << 6) | (0x20 if self.padding else 0) | (0x10 if self.extension else 0)
        first |= len(self.csrcs)
        second = (0x80 if self.marker else 0) | self.payload_type
        parts = [_FIXED.pack(first, second, self.sequence, self.timestamp, self.ssrc)]
        parts.extend(struct.pack("!I", c) for c in self.csrcs)
        if self.extension is not None:
            ext = self.extension
            parts.append(struct.pack("!HH", ext.profile, len(ext.data) // 4) + ext.data)
        parts.append(self.payload)
        if self.padding:
            # RFC 3550 §5.1: the last padding byte counts the padding, itself included.
            parts.append(bytes(self.padding - 1) + bytes([self.padding]))
        return b"".join(parts)


def parse_rtp(data: bytes) -> RtpPacket:
    """Parse one RTP packet; raises ``RtpError`` naming what is wrong."""
    if len(data) < _FIXED.size:
        raise RtpError(f"RTP packet needs at least 12 bytes, got {len(data)}")
    first, second, sequence, timestamp, ssrc = _FIXED.unpack_from(data)
    version = first >> 6
    if version != RTP_VERSION:
        raise RtpError(f"RTP version must be 2, got {version}")
    offset = _FIXED.size
    csrc_count = first & 0x0F
    end_of_csrcs = offset + 4 * csrc_count
    if end_of_csrcs > len(data):
        raise RtpError(f"header announces {csrc_count} CSRCs but the packet is {len(data)} bytes")
    csrcs = struct.unpack_from(f"!{csrc_count}I", data, offset)
    offset = end_of_csrcs
    extension = None
    if first & 0x10:
        if offset + 4 > len(data):
            raise RtpError("header extension flag set but the packet ends before it")
        profile, words = struct.unpack_from("!HH", data, offset)
        offset += 4
        if offset + 4 * words > len(data):
            raise RtpError(f"header extension of {words} words runs past the packet end")
        extension = RtpExtension(profile, bytes(data[offset : offset + 4 * words]))
        offset += 4 * words
    end = len(data)
    padding = 0
    if first & 0x20:
        padding = data[-1]
        if padding == 0 or end - padding < offset:
            raise RtpError(f"padding count {padding} does not fit a {len(data)}-byte packet")
        end -= padding
    return RtpPacket(
        payload_type=second & 0x7F,
        sequence=sequence,
        timestamp=timestamp,
        ssrc=ssrc,
        payload=bytes(data[offset:end]),
        marker=bool(second & 0x80),
        csrcs=tuple(csrcs),
        extension=extension,
        padding=padding,
    )
