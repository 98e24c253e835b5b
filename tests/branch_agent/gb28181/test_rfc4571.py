"""RTP over TCP framing (RFC 4571): packets survive any split of the byte stream."""

from __future__ import annotations

import random

import pytest

from branch_agent.gb28181.rfc4571 import Deframer, FramingError, frame


def _packets() -> list[bytes]:
    rng = random.Random(7)
    return [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 1500))) for _ in range(40)] + [bytes(65535)]


def test_frame_prefixes_the_big_endian_length() -> None:
    assert frame(b"abc") == b"\x00\x03abc"
    assert frame(bytes(0x1234))[:2] == b"\x12\x34"


def test_oversized_packet_cannot_be_framed() -> None:
    with pytest.raises(FramingError):
        frame(bytes(65536))


def test_whole_stream_at_once() -> None:
    packets = _packets()
    assert Deframer().feed(b"".join(frame(p) for p in packets)) == packets


def test_byte_by_byte() -> None:
    packets = _packets()[:5]
    d = Deframer()
    out: list[bytes] = []
    for b in b"".join(frame(p) for p in packets):
        out += d.feed(bytes([b]))
    assert out == packets and d.pending == 0


def test_random_splits_including_inside_the_length_prefix() -> None:
    packets = _packets()
    stream = b"".join(frame(p) for p in packets)
    rng = random.Random(3)
    d = Deframer()
    out: list[bytes] = []
    pos = 0
    while pos < len(stream):
        n = rng.choice([1, 2, 3, 700, 1401, 9000])
        out += d.feed(stream[pos : pos + n])
        pos += n
    assert out == packets


def test_zero_length_frames_are_skipped_and_tails_kept() -> None:
    d = Deframer()
    assert d.feed(b"\x00\x00" + frame(b"xy") + b"\x00\x05ab") == [b"xy"]
    assert d.pending == 4
    assert d.feed(b"cde") == [b"abcde"]
    d.feed(b"\x00")
    d.reset()
    assert d.pending == 0 and d.feed(frame(b"z")) == [b"z"]
