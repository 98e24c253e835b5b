"""The reorder buffer: sequence order restored, gaps given up on and counted, strangers ignored."""

from __future__ import annotations

from branch_agent.gb28181.rtp_packet import RtpPacket
from branch_agent.gb28181.rtp_reorder import Delivery, ReorderBuffer, seq_distance

SSRC = 1234567890
MS = 1_000_000


def pkt(seq: int, ssrc: int = SSRC) -> RtpPacket:
    return RtpPacket(96, seq & 0xFFFF, 0, ssrc, bytes([seq & 0xFF]))


def seqs(deliveries: list[Delivery]) -> list[int]:
    return [d.packet.sequence for d in deliveries]


def push_all(buf: ReorderBuffer, order: list[int], now: int = 0) -> list[Delivery]:
    out: list[Delivery] = []
    for s in order:
        out += buf.push(pkt(s), now)
    return out


def test_sequence_distance_wraps() -> None:
    assert seq_distance(65535, 0) == 1
    assert seq_distance(0, 65535) == -1
    assert seq_distance(100, 90) == -10


def test_in_order_packets_pass_straight_through() -> None:
    buf = ReorderBuffer(SSRC)
    out = push_all(buf, [10, 11, 12])
    assert seqs(out) == [10, 11, 12]
    assert not any(d.discontinuity for d in out)
    assert buf.stats.received == 3 and buf.stats.lost == 0 and buf.stats.reordered == 0


def test_swapped_neighbours_are_put_back_in_order() -> None:
    buf = ReorderBuffer(SSRC)
    out = push_all(buf, [1, 3, 2, 4, 6, 5])
    assert seqs(out) == [1, 2, 3, 4, 5, 6]
    assert buf.stats.reordered == 2 and buf.stats.lost == 0
    assert not any(d.discontinuity for d in out)


def test_reordering_across_the_wrap() -> None:
    buf = ReorderBuffer(SSRC)
    out = push_all(buf, [65534, 0, 65535, 2, 1, 3])
    assert seqs(out) == [65534, 65535, 0, 1, 2, 3]
    assert buf.stats.lost == 0 and buf.stats.reordered == 2


def test_gap_given_up_when_the_window_fills() -> None:
    buf = ReorderBuffer(SSRC, max_packets=3, max_delay_ns=10_000 * MS)
    out = push_all(buf, [1, 3, 4, 5])
    assert seqs(out) == [1]  # 3, 4, 5 held: 2 may still come
    out = buf.push(pkt(6), 0)
    assert seqs(out) == [3, 4, 5, 6]
    assert out[0].lost_before == 1 and out[0].discontinuity
    assert not out[1].discontinuity
    assert buf.stats.lost == 1


def test_gap_given_up_after_the_delay_even_without_traffic() -> None:
    buf = ReorderBuffer(SSRC, max_delay_ns=50 * MS)
    buf.push(pkt(1), 0)
    assert buf.push(pkt(4), 10 * MS) == []
    assert buf.poll(40 * MS) == []
    out = buf.poll(61 * MS)
    assert seqs(out) == [4] and out[0].lost_before == 2
    assert buf.stats.lost == 2


def test_packet_arriving_after_its_gap_was_given_up_is_dropped_as_late() -> None:
    buf = ReorderBuffer(SSRC, max_delay_ns=0)
    push_all(buf, [1, 3])
    assert seqs(buf.poll(1)) == [3]
    assert buf.push(pkt(2), 2) == []
    assert buf.stats.late == 1 and buf.stats.lost == 1


def test_duplicates_are_ignored_whether_held_or_released() -> None:
    buf = ReorderBuffer(SSRC)
    out = push_all(buf, [1, 1, 3, 3, 2, 2])
    assert seqs(out) == [1, 2, 3]
    assert buf.stats.duplicates == 3 and buf.stats.received == 3


def test_foreign_ssrc_is_counted_and_dropped() -> None:
    buf = ReorderBuffer(SSRC)
    assert buf.push(pkt(1, ssrc=42), 0) == []
    assert seqs(buf.push(pkt(5), 0)) == [5]
    assert buf.stats.foreign_ssrc == 1 and buf.stats.received == 1


def test_without_expected_ssrc_the_first_one_seen_is_kept() -> None:
    buf = ReorderBuffer()
    push_all(buf, [1])
    assert buf.push(pkt(2, ssrc=99), 0) == []
    assert buf.ssrc == SSRC and buf.stats.foreign_ssrc == 1


def test_big_jump_is_a_restarted_stream_not_a_loss() -> None:
    buf = ReorderBuffer(SSRC, max_jump=100)
    push_all(buf, [10, 11])
    out = push_all(buf, [30000, 30001])
    assert seqs(out) == [30000, 30001]
    assert out[0].restart and out[0].discontinuity and out[0].lost_before == 0
    assert buf.stats.lost == 0 and buf.stats.resyncs == 1
    # Far behind counts as a restart too (a new random start below the old one).
    out = push_all(buf, [5, 6])
    assert seqs(out) == [5, 6] and out[0].restart


def test_flush_releases_everything_held() -> None:
    buf = ReorderBuffer(SSRC)
    push_all(buf, [1, 4, 6])
    out = buf.flush()
    assert seqs(out) == [4, 6]
    assert [d.lost_before for d in out] == [2, 1]
    assert buf.held == 0


def test_reset_starts_a_new_sequence_but_keeps_counting() -> None:
    buf = ReorderBuffer(SSRC)
    push_all(buf, [100, 101])
    buf.reset()
    assert seqs(push_all(buf, [7, 8])) == [7, 8]
    assert buf.stats.received == 4


def test_a_device_ignoring_the_sdp_ssrc_can_be_adopted() -> None:
    buf = ReorderBuffer(SSRC, adopt_after=3)
    assert buf.push(pkt(1, ssrc=77), 0) == []
    assert buf.push(pkt(2, ssrc=88), 0) == []  # a different stranger starts the count again
    assert buf.push(pkt(3, ssrc=77), 0) == []
    assert buf.push(pkt(4, ssrc=77), 0) == []
    assert seqs(buf.push(pkt(5, ssrc=77), 0)) == [5]
    assert buf.ssrc == 77 and buf.stats.foreign_ssrc == 4
    assert buf.push(pkt(6), 0) == []  # and from then on the adopted one is the only one


def test_no_adoption_once_our_own_ssrc_was_heard() -> None:
    buf = ReorderBuffer(SSRC, adopt_after=2)
    push_all(buf, [1])
    for s in range(2, 10):
        assert buf.push(pkt(s, ssrc=77), 0) == []
    assert buf.ssrc == SSRC
