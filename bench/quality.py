"""Quality check benchmark: what the check of a clip costs, and whether it disturbs a recording.

    python bench/quality.py                 a 3-minute 1080p clip, checked alone, then beside a live recording
    python bench/quality.py --minutes 10

1. A clip is made with the real recorder engine on its free-running clock: the 1920x1080 environment
   picture shows a person (the astronaut's portrait from scikit-image) in front of a brick wall, the
   720x576 desk camera her face, with a little sensor noise; the microphone plays real read speech
   (LibriVox excerpts from Debian's pocketsphinx-testdata), looped. x264 veryfast 4 Mbit/s, 25 fps.
2. The check runs as the branch runs it: ``run_quality_check`` in a child process at nice 19, one
   thread. Printed: wall time, the child's CPU time, CPU seconds per minute of clip.
3. The same check runs again while the recorder records a live 1080p25 clip in real time from
   synthetic sources; printed: the recorder's dropped frames (the target is none), and those of the
   same live recording without the check, which is what a busy shared machine drops by itself.
   Even in the idle scheduling class the check's decoding and detection share the cores' caches,
   memory bandwidth and (on hyperthreads) execution units with the encoder, so a recording that
   must drop nothing has the check paused while it runs (``QualityCheckProcess.pause``/``resume``).

Last line: ``ratio: X``, wall time of the check alone over the clip's duration (target <= 0.1 on 2 cores).
"""

from __future__ import annotations

import argparse
import importlib.util
import resource
import sys
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import av
import cv2
import numpy as np
from PIL import Image

from branch_agent.recorder import (
    Clock,
    EncoderSettings,
    FreeRunningClock,
    OverlayRenderer,
    PipCompositor,
    PipLayout,
    RecordingEngine,
    sale_overlay,
)
from branch_agent.sources import AudioSource, SyntheticVideoSource, ToneAudioSource, VideoSource
from branch_agent.sources.synthetic_media import StillImageVideoSource, WavAudioSource, load_sound
from storage.quality import QualityReport, run_quality_check

FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")
TZ = ZoneInfo("Asia/Shanghai")
FPS = 25


def _photo(name: str) -> np.ndarray:
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("scikit-image missing: pip install -e '.[test]'")
    return np.asarray(Image.open(Path(next(iter(spec.submodule_search_locations))) / "data" / name).convert("RGB"))


def _speech() -> np.ndarray:
    files = sorted(LIBRIVOX.glob("*.wav"))
    if not files:
        raise SystemExit(f"{LIBRIVOX} missing: run scripts/sysdeps.sh (pocketsphinx-testdata)")
    return np.concatenate([load_sound(f) for f in files])


def _scene() -> np.ndarray:
    wall = cv2.resize(_photo("brick.png"), (1920, 1080))
    person = cv2.resize(_photo("astronaut.png"), (900, 900), interpolation=cv2.INTER_AREA)
    wall[180:, 200:1100] = person
    return wall


def _engine(env: VideoSource, desk: VideoSource, mic: AudioSource, out: Path, clock: Clock | None) -> RecordingEngine:
    return RecordingEngine(
        env,
        desk,
        mic,
        PipCompositor(PipLayout()),
        OverlayRenderer(FONT),
        sale_overlay("北京分行营业部", "理财柜台 03", "1000001", "SN20261204000123", TZ),
        out,
        EncoderSettings(),
        clock=clock,
    )


def make_clip(out: Path, seconds: float) -> float:
    clock = FreeRunningClock()
    sources = (
        StillImageVideoSource("env-cam", [(0, _scene())], 1920, 1080, FPS, clock=clock),
        StillImageVideoSource("desk-cam", [(0, _photo("astronaut.png"))], 720, 576, FPS, clock=clock),
        WavAudioSource("counter-mic", _speech(), loop=True, clock=clock),
    )
    for s in sources:
        s.open()
    engine = _engine(*sources, out, clock)
    started = time.perf_counter()
    engine.start()
    while engine.status().video_frames < seconds * FPS:
        time.sleep(0.01)
    result = engine.stop()
    print(f"clip: {result.duration_ms / 1000:.1f} s of 1080p25 PiP + speech, {out.stat().st_size / 1e6:.0f} MB, "
          f"made in {time.perf_counter() - started:.0f} s")  # fmt: skip
    return result.duration_ms / 1000


def timed_check(clip: Path) -> tuple[QualityReport, float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    report = run_quality_check(clip)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return report, wall, cpu


def live_recording(work: Path, seconds: float, clip: Path | None) -> tuple[float, int, int]:
    """A live 1080p25 recording in real time from synthetic sources, with the check of ``clip``
    running beside it (or, without a clip, alone for ``seconds``): (check wall s, frames, dropped)."""
    env = SyntheticVideoSource("live-env", 1920, 1080, FPS, "ENV")
    desk = SyntheticVideoSource("live-desk", 720, 576, FPS, "DESK", luma=180)
    mic = ToneAudioSource("live-mic")
    for s in (env, desk, mic):
        s.open()
    out = work / "live.mp4"
    out.unlink(missing_ok=True)
    engine = _engine(env, desk, mic, out, None)
    wall = 0.0
    try:
        engine.start()
        time.sleep(2.0)  # the recording is under way before the check starts
        if clip is not None:
            wall = timed_check(clip)[1]
        else:
            time.sleep(seconds)
        time.sleep(1.0)
        result = engine.stop()
    finally:
        for s in (env, desk, mic):
            s.close()
    return wall, result.video_frames, result.dropped_ticks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=3.0, help="length of the clip checked")
    parser.add_argument("--no-live", action="store_true", help="skip the run beside a live recording")
    parser.add_argument("--workdir", type=Path, help="keep the clip here")
    parser.add_argument(
        "--clip", type=Path, help="check this clip (e.g. one kept with --workdir) instead of making one"
    )
    args = parser.parse_args()
    if not FONT.is_file():
        raise SystemExit(f"font {FONT} missing: run scripts/sysdeps.sh")
    with tempfile.TemporaryDirectory(prefix="bench-quality-") as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        if args.clip is not None:
            clip = args.clip
            with av.open(str(clip)) as container:
                duration = float(container.duration or 0) / av.time_base
            print(f"clip: {clip} ({duration:.1f} s)")
        else:
            clip = work / "sale.mp4"
            clip.unlink(missing_ok=True)
            duration = make_clip(clip, args.minutes * 60)
        report, wall, cpu = timed_check(clip)
        m = report.measurements
        print(f"check: verdict {report.verdict}, {len(report.findings)} findings; face {m.face_share}, "
              f"person {m.person_share}, speech {m.speech_share}; {m.video_samples} pictures, {m.audio_seconds} s of sound")  # fmt: skip
        print(f"check alone: wall {wall:.1f} s, CPU {cpu:.1f} s (the child's own count {report.cost.cpu_s:.1f} s), "
              f"{cpu / (duration / 60):.2f} CPU s per minute of clip")  # fmt: skip
        if not args.no_live:
            live_wall, frames, dropped = live_recording(work, 0, clip)
            print(f"check beside a live 1080p25 recording: wall {live_wall:.1f} s ({live_wall / duration:.3f} of the "
                  f"clip); the recording: {frames} frames, dropped_frames: {dropped}")  # fmt: skip
            _, frames, dropped = live_recording(work, live_wall, None)
            print(f"the same live recording without the check (this machine's own noise): {frames} frames, "
                  f"dropped_frames: {dropped}")  # fmt: skip
        print(f"ratio: {wall / duration:.3f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
