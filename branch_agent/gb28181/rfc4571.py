"""RTP over TCP (RFC 4571): each packet preceded by its length as a 16-bit big-endian number.

GB/T 28181-2016 uses this framing for both TCP modes. TCP hands over bytes in arbitrary pieces,
so the deframer keeps the unfinished tail between reads. A zero length carries no packet and is
skipped (RFC 4571 allows it; some senders use it as a keep-alive).
"""

from __future__ import annotations

MAX_FRAME = 0xFFFF


class FramingError(ValueError):
    """A packet too large for the 16-bit length prefix."""


def frame(packet: bytes) -> bytes:
    if len(packet) > MAX_FRAME:
        raise FramingError(f"RFC 4571 frames hold at most {MAX_FRAME} bytes, got {len(packet)}")
    return len(packet).to_bytes(2, "big") + packet


class Deframer:
    """Incremental: ``feed`` any slice of the byte stream, get the packets it completes."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    @property
    def pending(self) -> int:
        """Bytes received that do not yet make a whole packet."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        buf = self._buffer
        out: list[bytes] = []
        pos = 0
        while len(buf) - pos >= 2:
            length = (buf[pos] << 8) | buf[pos + 1]
            if len(buf) - pos - 2 < length:
                break
            if length:
                out.append(bytes(buf[pos + 2 : pos + 2 + length]))
            pos += 2 + length
        if pos:
            del buf[:pos]
        return out

    def reset(self) -> None:
        self._buffer.clear()
