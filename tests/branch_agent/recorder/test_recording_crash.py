"""A recorder killed without warning leaves a clip that plays up to its last fragment."""

from __future__ import annotations

import select
import signal
import subprocess
import sys
import textwrap
import time

import av

RECORDER_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from branch_agent.recorder import (
        EncoderSettings,
        OverlayRenderer,
        OverlayText,
        PipCompositor,
        RecordingEngine,
    )
    from branch_agent.sources import SyntheticVideoSource, ToneAudioSource

    output, font = sys.argv[1], sys.argv[2]
    env = SyntheticVideoSource("env-cam", 1920, 1080, 25, "ENV", luma=60)
    desk = SyntheticVideoSource("desk-cam", 720, 576, 25, "DESK", luma=200)
    mic = ToneAudioSource("counter-mic")
    for source in (env, desk, mic):
        source.open()
    engine = RecordingEngine(
        env, desk, mic, PipCompositor(), OverlayRenderer(font, 36),
        lambda now: OverlayText([now.astimezone().strftime("%Y-%m-%d %H:%M:%S"), "网点 0101 柜台 03"]),
        output, EncoderSettings(),
    )
    engine.start()
    print("recording", flush=True)
    time.sleep(120)
    """
)


def test_kill_9_mid_recording_leaves_a_playable_clip(tmp_path, cjk_font):
    script = tmp_path / "record.py"
    script.write_text(RECORDER_SCRIPT, encoding="utf-8")
    output = tmp_path / "interrupted.mp4"
    proc = subprocess.Popen(
        [sys.executable, str(script), str(output), str(cjk_font)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        assert ready, "recorder subprocess did not start recording"
        line = proc.stdout.readline()
        assert line.strip() == "recording", proc.stderr.read()
        started = time.monotonic()
        time.sleep(5)
        recorded_s = time.monotonic() - started
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL

    with av.open(str(output)) as container:
        frames = [float(f.time) for f in container.decode(video=0)]
    with av.open(str(output)) as container:
        samples = sum(f.samples for f in container.decode(audio=0))
    video_s = frames[-1] + 1 / 25
    assert video_s >= recorded_s - 2.5
    assert samples / 48000 >= recorded_s - 2.5
