"""Audio capture times from a drifting, jittery device."""

from __future__ import annotations

import random

import pytest

from branch_agent.sources import CaptureClock

RATE = 48000
CHUNK = 1024


@pytest.mark.parametrize("ppm", [-500, 0, 500])
def test_capture_times_follow_a_drifting_device_and_ignore_delivery_jitter(ppm):
    rng = random.Random(7)
    clock = CaptureClock(RATE)
    device_rate = RATE * (1 + ppm * 1e-6)
    origin = 5_000_000_000
    worst_ms = 0.0
    for k in range(int(1800 * device_rate / CHUNK)):  # half an hour
        true_start = origin + k * CHUNK / device_rate * 1e9
        true_end = origin + (k + 1) * CHUNK / device_rate * 1e9
        # Delivered 2 ms after the last sample, plus up to 15 ms of scheduling delay.
        arrival = int(true_end + 2e6 + rng.uniform(0, 15e6))
        pts = clock.stamp(CHUNK, arrival)
        if k > 500:
            worst_ms = max(worst_ms, abs(pts - true_start) / 1e6 - 2.0)
    # Only the fixed 2 ms delivery delay remains (it cannot be told from capture); the 15 ms of
    # jitter and the 0.9 s of drift over the half hour are gone, to within 2.5 ms.
    assert worst_ms < 2.5


def test_count_must_be_positive():
    with pytest.raises(ValueError, match="count must be positive"):
        CaptureClock(RATE).stamp(0, 1)
