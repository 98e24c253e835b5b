"""Seconds of a clip lost to kill -9.

A child process records live from synthetic cameras and a microphone; the benchmark kills it with
SIGKILL at a random moment, then asks the agent's recovery code how far the file plays. The loss
is the time between the recording's start and the kill, minus what plays.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from branch_agent.spool.recovery import probe_playable

CHILD = textwrap.dedent(
    """
    import sys, time
    from zoneinfo import ZoneInfo
    from branch_agent.recorder import (
        EncoderSettings,
        OverlayRenderer,
        PipCompositor,
        RecordingEngine,
        sale_overlay,
    )
    from branch_agent.sources import SyntheticVideoSource, ToneAudioSource

    output, font = sys.argv[1], sys.argv[2]
    env = SyntheticVideoSource("env-cam", 1920, 1080, 25, "ENV", luma=60)
    desk = SyntheticVideoSource("desk-cam", 720, 576, 25, "DESK", luma=200)
    mic = ToneAudioSource("counter-mic")
    for source in (env, desk, mic):
        source.open()
    engine = RecordingEngine(
        env, desk, mic, PipCompositor(), OverlayRenderer(font),
        sale_overlay("北京分行营业部", "理财柜台 03", "1000001", "SN-CRASH", ZoneInfo("Asia/Shanghai")),
        output, EncoderSettings(),
    )
    engine.start()
    origin = time.monotonic_ns() - engine.status().elapsed_ms * 1_000_000
    print(origin, flush=True)
    time.sleep(600)
    """
)


def one_kill(work: Path, font: Path, index: int, rng: random.Random) -> float:
    output = work / f"killed-{index}.mp4"
    output.unlink(missing_ok=True)
    script = work / "record_until_killed.py"
    script.write_text(CHILD, encoding="utf-8")
    child = subprocess.Popen(
        [sys.executable, str(script), str(output), str(font)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert child.stdout is not None
        origin_ns = int(child.stdout.readline())
        time.sleep(rng.uniform(8.0, 20.0))
        killed_ns = time.monotonic_ns()
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    recorded_s = (killed_ns - origin_ns) / 1e9
    playable = probe_playable(output)
    plays_s = playable.duration_ms / 1000 if playable else 0.0
    lost = recorded_s - plays_s
    print(f"kill {index + 1}: recorded {recorded_s:6.2f} s, plays {plays_s:6.2f} s, lost {lost:.2f} s",
          flush=True)  # fmt: skip
    return lost


def crash_benchmark(kills: int, work: Path, font: Path) -> None:
    rng = random.Random()
    losses = [one_kill(work, font, i, rng) for i in range(kills)]
    print(f"lost: mean {sum(losses) / len(losses):.2f} s, worst {max(losses):.2f} s over {kills} kills")
    print(f"lost_s: {max(losses):.2f}")
