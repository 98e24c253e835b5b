"""RTP packets (RFC 3550) as GB/T 28181 cameras send them, and what malformed input looks like."""

from __future__ import annotations

import contextlib
import random

import pytest

from branch_agent.gb28181.rtp_packet import RtpError, RtpExtension, RtpPacket, parse_rtp


def test_parses_a_hand_built_ps_packet() -> None:
    raw = bytes.fromhex("80e0 1234 000003e8 499602d2".replace(" ", "")) + b"\x00\x00\x01\xba payload"
    p = parse_rtp(raw)
    assert (p.payload_type, p.marker, p.sequence, p.timestamp, p.ssrc) == (96, True, 0x1234, 1000, 1234567890)
    assert p.payload == b"\x00\x00\x01\xba payload"
    assert p.csrcs == () and p.extension is None and p.padding == 0
    assert p.to_bytes() == raw


def test_round_trips_csrcs_extension_and_padding() -> None:
    p = RtpPacket(
        payload_type=96,
        sequence=65535,
        timestamp=0xFFFFFFFF,
        ssrc=1,
        payload=b"abc",
        marker=False,
        csrcs=(7, 8, 9),
        extension=RtpExtension(0xBEDE, b"\x01\x02\x03\x04"),
        padding=5,
    )
    raw = p.to_bytes()
    assert raw[0] == 0x80 | 0x20 | 0x10 | 3
    assert len(raw) == 12 + 12 + 4 + 4 + 3 + 5 and raw[-1] == 5
    assert parse_rtp(raw) == p


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"\x80\x60\x00", "at least 12 bytes"),
        (bytes([0x40, 0x60]) + bytes(10), "version must be 2"),
        (bytes([0x83, 0x60]) + bytes(10) + bytes(8), "3 CSRCs"),
        (bytes([0x90, 0x60]) + bytes(10) + b"\xbe\xde", "extension flag"),
        (bytes([0x90, 0x60]) + bytes(10) + b"\xbe\xde\x00\x02" + bytes(4), "runs past"),
        (bytes([0xA0, 0x60]) + bytes(10) + b"ab\x00", "padding count 0"),
        (bytes([0xA0, 0x60]) + bytes(10) + b"ab\x09", "padding count 9"),
    ],
)
def test_malformed_packets_are_rejected_with_a_reason(raw: bytes, message: str) -> None:
    with pytest.raises(RtpError, match=message):
        parse_rtp(raw)


def test_rtp_error_is_a_value_error() -> None:
    assert issubclass(RtpError, ValueError)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"payload_type": 128},
        {"sequence": 65536},
        {"timestamp": -1},
        {"ssrc": 1 << 32},
        {"csrcs": tuple(range(16))},
        {"padding": 256},
    ],
)
def test_building_an_impossible_packet_fails(kwargs: dict[str, object]) -> None:
    fields: dict[str, object] = {"payload_type": 96, "sequence": 0, "timestamp": 0, "ssrc": 0, "payload": b""}
    fields.update(kwargs)
    with pytest.raises(RtpError):
        RtpPacket(**fields)  # type: ignore[arg-type]


def test_extension_must_be_whole_words() -> None:
    with pytest.raises(RtpError, match="32-bit words"):
        RtpExtension(1, b"abc")


def test_random_bytes_fail_only_with_rtp_error() -> None:
    rng = random.Random(1)
    for _ in range(2000):
        raw = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 40)))
        with contextlib.suppress(RtpError):
            parse_rtp(raw)
