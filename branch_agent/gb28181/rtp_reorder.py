"""Puts RTP packets back in sequence order before the PS demuxer sees them.

UDP may reorder and lose packets. A PS pack is split across RTP packets at arbitrary byte
positions, so the demuxer can only work on payloads in sequence order, and it must be told where
bytes are missing so it can resynchronise instead of parsing garbage. The buffer holds a packet
that arrived early for a short while (a few packets or a few tens of milliseconds, whichever ends
first), hoping the missing one turns up; after that the gap is given up on and counted as lost.
Waiting longer would only delay live video: a packet later than that is useless anyway.

Sequence numbers are 16 bits and wrap; they are compared by their signed distance (RFC 3550
appendix A.1). A jump of more than ``max_jump`` either way is a new stream (the camera restarted
and picked a new random start), not thousands of lost packets.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field

from branch_agent.gb28181.rtp_packet import RtpPacket

_SEQ_MOD = 1 << 16


def seq_distance(a: int, b: int) -> int:
    """Signed distance from sequence number ``a`` to ``b`` (positive when ``b`` is later)."""
    d = (b - a) % _SEQ_MOD
    return d - _SEQ_MOD if d >= _SEQ_MOD // 2 else d


@dataclass
class ReorderStats:
    received: int = 0  # packets accepted from the expected SSRC (duplicates excluded)
    lost: int = 0  # sequence numbers given up on
    reordered: int = 0  # packets that arrived after a later one and were put back in place
    duplicates: int = 0
    late: int = 0  # arrived after their gap had been given up on: dropped
    foreign_ssrc: int = 0  # packets from another SSRC, dropped
    resyncs: int = 0  # sequence jumps taken as a new stream


@dataclass(frozen=True)
class Delivery:
    """A packet released in order; ``lost_before`` packets are missing just before it.

    ``discontinuity`` is also set on the first packet after a stream restart: the demuxer must
    resynchronise either way.
    """

    packet: RtpPacket
    lost_before: int = 0
    restart: bool = False

    @property
    def discontinuity(self) -> bool:
        return self.lost_before > 0 or self.restart


@dataclass
class _Held:
    packet: RtpPacket
    arrival_ns: int


@dataclass
class ReorderBuffer:
    """Not thread-safe: one receiver thread owns it.

    ``expected_ssrc`` None locks onto the first SSRC seen; GB/T 28181 devices are supposed to use
    the SDP ``y=`` value, and a stray stream on the same port (a previous session the camera has
    not stopped) must not be mixed into this one.
    """

    expected_ssrc: int | None = None
    max_packets: int = 64
    max_delay_ns: int = 80_000_000
    max_jump: int = 3000
    # After this many packets of one other SSRC while none of ours came, switch to it (0 = never).
    adopt_after: int = 0
    stats: ReorderStats = field(default_factory=ReorderStats)

    def __post_init__(self) -> None:
        if self.max_packets < 1 or self.max_delay_ns < 0:
            raise ValueError("max_packets must be >= 1 and max_delay_ns >= 0")
        self._next: int | None = None  # sequence number the next release must carry
        self._held: dict[int, _Held] = {}
        # Recently released sequence numbers, to tell a duplicate from a late packet.
        self._recent: collections.deque[int] = collections.deque(maxlen=256)
        self._recent_set: set[int] = set()
        self._restart_pending = False
        self._stranger: tuple[int, int] | None = None  # (SSRC, packets) of a single other sender

    @property
    def ssrc(self) -> int | None:
        return self.expected_ssrc

    @property
    def held(self) -> int:
        return len(self._held)

    def reset(self) -> None:
        """Forget the sequence (a new TCP connection starts a new stream); stats are kept."""
        self._next = None
        self._held.clear()
        self._recent.clear()
        self._recent_set.clear()

    def push(self, packet: RtpPacket, now_ns: int) -> list[Delivery]:
        """Take one packet; returns the packets that can now be released, in order."""
        if self.expected_ssrc is None:
            self.expected_ssrc = packet.ssrc
        elif packet.ssrc != self.expected_ssrc and not self._adopt(packet.ssrc):
            self.stats.foreign_ssrc += 1
            return []
        seq = packet.sequence
        if self._next is None:
            self._next = seq
        distance = seq_distance(self._next, seq)
        if distance < 0 or seq in self._held:
            if seq in self._held or seq in self._recent_set:
                self.stats.duplicates += 1
                return []
            if -distance <= self.max_jump:
                self.stats.late += 1
                return []
            distance = self.max_jump + 1  # far behind: a restarted stream, handled below
        self.stats.received += 1
        out: list[Delivery] = []
        if distance > self.max_jump:
            # Release what is held as it is, then start over at this packet.
            out.extend(self._drain_all())
            self.stats.resyncs += 1
            self._next = seq
            self._restart_pending = True
        elif any(seq_distance(seq, s) > 0 for s in self._held):
            # A later packet came first: this one is being put back in its place.
            self.stats.reordered += 1
        self._held[seq] = _Held(packet, now_ns)
        out.extend(self._release_in_order())
        out.extend(self.poll(now_ns))
        return out

    def poll(self, now_ns: int) -> list[Delivery]:
        """Give up on gaps that have waited too long; call it even when no packet arrives."""
        out: list[Delivery] = []
        while self._held and (
            len(self._held) > self.max_packets
            or now_ns - min(h.arrival_ns for h in self._held.values()) > self.max_delay_ns
        ):
            out.extend(self._skip_to_first_held())
        return out

    def flush(self) -> list[Delivery]:
        """Release everything held (the stream ended), counting the gaps as lost."""
        return self._drain_all()

    # -- internals -------------------------------------------------------------------------

    def _adopt(self, ssrc: int) -> bool:
        if not self.adopt_after or self.stats.received:
            return False
        seen = self._stranger[1] + 1 if self._stranger and self._stranger[0] == ssrc else 1
        self._stranger = (ssrc, seen)
        if seen < self.adopt_after:
            return False
        self.expected_ssrc = ssrc
        return True

    def _drain_all(self) -> list[Delivery]:
        out: list[Delivery] = []
        while self._held:
            out.extend(self._skip_to_first_held())
        return out

    def _skip_to_first_held(self) -> list[Delivery]:
        assert self._next is not None
        base = self._next
        first = min(self._held, key=lambda s: seq_distance(base, s))
        lost = seq_distance(base, first)
        self.stats.lost += lost
        self._next = first
        return self._release_in_order(lost)

    def _release_in_order(self, lost_before: int = 0) -> list[Delivery]:
        out: list[Delivery] = []
        while self._next is not None and self._next in self._held:
            held = self._held.pop(self._next)
            out.append(Delivery(held.packet, lost_before, self._restart_pending))
            lost_before = 0
            self._restart_pending = False
            self._remember(self._next)
            self._next = (self._next + 1) % _SEQ_MOD
        return out

    def _remember(self, seq: int) -> None:
        if len(self._recent) == self._recent.maxlen:
            self._recent_set.discard(self._recent[0])
        self._recent.append(seq)
        self._recent_set.add(seq)
