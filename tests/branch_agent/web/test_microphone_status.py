"""The admin page tells the truth about the microphone: sound that arrives but is dropped is a problem."""

from __future__ import annotations

import time

from branch_agent.sources.synthetic import ToneAudioSource
from branch_agent.web.camera_status import describe_problem


def test_microphone_dropping_sound_while_recording_is_a_problem_not_ok() -> None:
    mic = ToneAudioSource("counter-mic", sample_rate=16000, chunk_samples=160, max_buffered_s=0.2)
    mic.open()
    try:
        # A recorder that falls behind: it reads one 10 ms chunk where a hundred arrive each second.
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            mic.read(1)
            time.sleep(0.1)
        health = mic.health()
    finally:
        mic.close()
    assert health.connected and health.dropped > 0 and health.dropped_recent == health.dropped
    problem = describe_problem("microphone", health)
    assert problem is not None
    assert "丢失" in problem and "dropped in the last minute" in problem and str(health.dropped) in problem


def test_idle_microphone_nobody_reads_stays_ok() -> None:
    # Between sales nobody records: old sound is let go, and that is not a fault of the microphone.
    mic = ToneAudioSource("counter-mic", sample_rate=16000, chunk_samples=160, max_buffered_s=0.2)
    mic.open()
    try:
        time.sleep(1.0)  # five times what the buffer holds, with nobody reading
        health = mic.health()
    finally:
        mic.close()
    assert health.dropped == 0 and describe_problem("microphone", health) is None
