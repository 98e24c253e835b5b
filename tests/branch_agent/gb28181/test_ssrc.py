"""Live-stream SSRCs (the y= of GB/T 28181-2016 annex F): 0, the domain's digits 4-8, then a
sequence part that is random, so another host cannot predict it, and never one a live or
about-to-start session already uses."""

from __future__ import annotations

import pytest

from branch_agent.gb28181.ssrc import SsrcExhausted, SsrcPool

DOMAIN = "3402000000"


class SteppedClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_pool_never_hands_out_one_in_use_and_says_when_none_is_left() -> None:
    clock = SteppedClock()
    pool = SsrcPool(DOMAIN, clock=clock)
    for sequence in range(10000):
        if sequence != 4321:
            pool.hold(f"020000{sequence:04d}")
    assert pool.take() == "0200004321"
    with pytest.raises(SsrcExhausted, match="no free SSRC"):
        pool.take()
    pool.release("0200000007")
    assert pool.take() == "0200000007"


def test_a_taken_ssrc_never_used_by_a_session_comes_free_again() -> None:
    clock = SteppedClock()
    pool = SsrcPool(DOMAIN, clock=clock, pending_s=60)
    for sequence in range(10000):
        if sequence != 11:
            pool.hold(f"020000{sequence:04d}")
    assert pool.take() == "0200000011"
    clock.now += 61  # the INVITE it was taken for never happened
    assert pool.take() == "0200000011"
    # Held (a session uses it): it stays taken however long the session lasts.
    pool.hold("0200000011")
    clock.now += 10000
    with pytest.raises(SsrcExhausted, match="no free SSRC"):
        pool.take()
