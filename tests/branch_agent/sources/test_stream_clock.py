"""Camera timestamps mapped onto the host's monotonic clock: drift, jitter, gaps in stamping, jumps."""

from __future__ import annotations

import random

import pytest

from branch_agent.sources.stream_clock import StreamClock

NS = 1_000_000_000
FRAME = NS // 25
HOUR = 3600 * NS


def _feed(
    clock: StreamClock,
    frames: int,
    *,
    pts0: int,
    host0: int,
    ppm: float = 0.0,
    jitter_ms: float = 0.0,
    base_delay_ms: float = 30.0,
    seed: int = 1,
) -> list[tuple[int, int]]:
    """Frames captured every 40 ms of camera time; returns (mapped, true capture + base delay)."""
    rng = random.Random(seed)
    out = []
    for k in range(frames):
        pts = pts0 + k * FRAME
        captured = host0 + int(k * FRAME * (1 + ppm / 1e6))  # host time the picture was taken
        ideal = captured + int(base_delay_ms * 1e6)
        arrival = ideal + int(rng.uniform(0, jitter_ms) * 1e6)
        out.append((clock.map(pts, arrival, FRAME), ideal))
    return out


def test_delivery_jitter_does_not_reach_the_stamps():
    pairs = _feed(StreamClock(), 25 * 30, pts0=0, host0=10 * NS, jitter_ms=60)
    errors = [abs(m - ideal) for m, ideal in pairs[25 * 10 :]]
    # 60 ms of jitter on arrival; once the window has seen a quick frame the stamps are within 3 ms.
    assert max(errors) < 3_000_000


def test_a_camera_clock_hours_off_and_drifting_is_followed():
    # The camera believes it is five hours later and its clock runs 300 ppm fast.
    pairs = _feed(StreamClock(), 25 * 600, pts0=5 * HOUR, host0=10 * NS, ppm=-300, jitter_ms=20, seed=7)
    errors = [abs(m - ideal) for m, ideal in pairs[25 * 10 :]]
    # Uncorrected, 300 ppm is 180 ms after ten minutes; followed, the error stays a few ms.
    assert max(errors) < 6_000_000


def test_stamps_never_run_ahead_of_arrival():
    clock = StreamClock()
    rng = random.Random(3)
    for k in range(2000):
        arrival = 5 * NS + k * FRAME + int(rng.uniform(0, 80) * 1e6)
        assert clock.map(k * FRAME, arrival, FRAME) <= arrival


def test_unstamped_first_frames_are_placed_at_arrival_and_later_ones_continue_by_duration():
    clock = StreamClock()
    assert clock.map(None, 7 * NS, FRAME) == 7 * NS
    mapped = clock.map(0, 8 * NS, FRAME)
    assert clock.map(None, 8 * NS + FRAME + 5_000_000, FRAME) == mapped + FRAME


def test_a_camera_restart_that_resets_its_timestamps_starts_the_mapping_afresh():
    clock = StreamClock()
    for k in range(100):
        clock.map(3 * HOUR + k * FRAME, 20 * NS + k * FRAME, FRAME)
    # Rebooted: pts back at zero while host time goes on.
    arrival = 20 * NS + 100 * FRAME + 2 * NS
    assert clock.map(0, arrival, FRAME) == arrival
    assert clock.resets == 1
    assert clock.map(FRAME, arrival + FRAME, FRAME) == arrival + FRAME


def test_a_forward_jump_of_the_camera_clock_is_taken_at_once():
    clock = StreamClock()
    for k in range(100):
        clock.map(k * FRAME, 20 * NS + k * FRAME, FRAME)
    arrival = 20 * NS + 100 * FRAME
    # Someone set the camera's clock an hour forward: the picture is still live.
    assert clock.map(HOUR, arrival, FRAME) == arrival


def test_initial_burst_of_buffered_frames_converges_to_live():
    # On connect the camera sends the last second of frames at once, then goes live.
    clock = StreamClock()
    host_connect = 50 * NS
    for k in range(25):
        clock.map(k * FRAME, host_connect + k * 1_000_000, FRAME)  # 25 frames within 25 ms
    live = [clock.map((25 + k) * FRAME, host_connect + 25_000_000 + (k + 1) * FRAME, FRAME) for k in range(50)]
    expected = [host_connect + 25_000_000 + (k + 1) * FRAME for k in range(50)]
    assert max(abs(a - b) for a, b in zip(live, expected)) < 2_000_000


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        StreamClock(window_s=0)
