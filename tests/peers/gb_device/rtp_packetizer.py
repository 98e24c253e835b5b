"""Cuts PS packs into RTP packets the way GB/T 28181 devices do.

A pack is split at arbitrary byte positions into payloads of at most ``max_payload`` bytes (1400
keeps a packet within a 1500-byte Ethernet MTU with IP/UDP/RTP headers and some tunnel overhead);
all packets of a frame carry the frame's PTS as their timestamp and the last one the marker bit.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from branch_agent.gb28181.rtp_packet import PS_PAYLOAD_TYPE, RtpPacket


@dataclass
class RtpPacketizer:
    ssrc: int
    payload_type: int = PS_PAYLOAD_TYPE
    max_payload: int = 1400
    # RFC 3550 wants a random start so a restarted sender is not taken for the old stream.
    first_sequence: int | None = None

    def __post_init__(self) -> None:
        if self.max_payload < 1:
            raise ValueError("max_payload must be positive")
        self._seq = random.randrange(1 << 16) if self.first_sequence is None else self.first_sequence & 0xFFFF

    @property
    def next_sequence(self) -> int:
        return self._seq

    def packetize(self, pack: bytes, timestamp: int, marker: bool = True) -> list[RtpPacket]:
        """``pack`` as RTP packets; ``marker`` on the last one when it ends a frame."""
        if not pack:
            return []
        out: list[RtpPacket] = []
        ts = timestamp & 0xFFFFFFFF
        for pos in range(0, len(pack), self.max_payload):
            chunk = pack[pos : pos + self.max_payload]
            last = pos + self.max_payload >= len(pack)
            out.append(RtpPacket(self.payload_type, self._seq, ts, self.ssrc, chunk, marker=marker and last))
            self._seq = (self._seq + 1) & 0xFFFF
        return out
