"""Several counters recording at once on one branch host, in real time.

Each counter has its own 1080p environment camera (flashing a marker every two seconds), its own desk
camera and its own microphone (beeping with the flash, its crystal 300 ppm off), and its own recording
engine, exactly as the agent runs one per counter. All record together for the same wall-clock time;
afterwards each clip is checked for skipped frames (the engine's dropped ticks) and its largest
audio/video offset (flash against beep). With ``--check`` each counter's previous clip is put through
the quality check while the new ones record, as happens after every Complete at a busy branch.

The last line is ``max_counters_without_drop: N``: the largest number tried that recorded with no
skipped frame on any clip.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from recorder_sync import (
    _NS,
    FLASH_FRAMES,
    FPS,
    PERIOD_FRAMES,
    BeepingMicrophone,
    FlashingCamera,
    Pattern,
    beep_onsets,
    flash_onsets,
)

from branch_agent.recorder import (
    EncoderSettings,
    OverlayRenderer,
    PipCompositor,
    PipLayout,
    RecordingEngine,
    sale_overlay,
)
from branch_agent.sources import SyntheticVideoSource
from storage.quality import QualityCheckProcess, start_quality_check


@dataclass(frozen=True)
class ClipResult:
    counter: int
    frames: int
    dropped: int
    gaps: int
    max_offset_ms: float | None


def _max_offset_ms(path: Path) -> float | None:
    beeps = beep_onsets(path)
    offsets = []
    for flash in flash_onsets(path):
        nearest = min(beeps, key=lambda b: abs(b - flash), default=None)
        if nearest is not None and abs(nearest - flash) < 0.5:
            offsets.append(abs(nearest - flash) * 1000)
    return max(offsets) if offsets else None


def _start_checks(clips: list[Path]) -> list[QualityCheckProcess]:
    """The quality check of each earlier clip, each in its own low-priority process as after Complete,
    and left running: the branch pauses it while a counter records, this shows what it costs if not."""
    return [start_quality_check(path) for path in clips]


def record_together(counters: int, seconds: float, work: Path, font: Path, check: list[Path]) -> list[ClipResult]:
    settings = EncoderSettings()
    period_ns = PERIOD_FRAMES * _NS // FPS
    pattern = Pattern(time.monotonic_ns() + 2 * _NS, period_ns, FLASH_FRAMES * _NS // FPS)
    rigs = []
    for n in range(counters):
        env = FlashingCamera(f"C{n:02d}-environment", pattern)
        desk = SyntheticVideoSource(f"C{n:02d}-desk", 720, 576, FPS, f"DESK {n}", luma=200)
        mic = BeepingMicrophone(f"C{n:02d}-microphone", pattern, settings.sample_rate)
        out = work / f"counter-{counters}-{n}.mp4"
        out.unlink(missing_ok=True)
        rigs.append((env, desk, mic, out))
    for env, desk, mic, _ in rigs:
        for source in (env, desk, mic):
            source.open()
    engines = [
        RecordingEngine(
            env,
            desk,
            mic,
            PipCompositor(PipLayout()),
            OverlayRenderer(font),
            sale_overlay("北京分行营业部", f"理财柜台 {n:02d}", "1000001", f"SN-C{n}", ZoneInfo("Asia/Shanghai")),
            out,
            settings,
        )
        for n, (env, desk, mic, out) in enumerate(rigs)
    ]
    checks = _start_checks(check) if check else []
    try:
        for engine in engines:
            engine.start()
        time.sleep(seconds)
        results = [engine.stop() for engine in engines]
    finally:
        for env, desk, mic, _ in rigs:
            for source in (env, desk, mic):
                source.close()
        for proc in checks:
            proc.wait()
    return [
        ClipResult(n, r.video_frames, r.dropped_ticks, len(r.gaps), _max_offset_ms(out))
        for n, (r, (_, _, _, out)) in enumerate(zip(results, rigs))
    ]


def counters_benchmark(max_counters: int, seconds: float, work: Path, font: Path, with_check: bool) -> None:
    print(f"{seconds:g} s of 1080p25 PiP per counter, all counters at once, real time", flush=True)
    best = 0
    previous: list[Path] = []
    for counters in range(1, max_counters + 1):
        clips = record_together(counters, seconds, work, font, previous if with_check else [])
        for c in clips:
            offset = "n/a" if c.max_offset_ms is None else f"{c.max_offset_ms:.1f} ms"
            print(f"  {counters} counters, counter {c.counter}: {c.frames} frames, {c.dropped} skipped, "
                  f"{c.gaps} gaps, max A/V offset {offset}", flush=True)  # fmt: skip
        if any(c.dropped for c in clips):
            print(f"{counters} counters: frames skipped", flush=True)
            break
        best = counters
        previous = [work / f"counter-{counters}-{c.counter}.mp4" for c in clips]
    print(f"max_counters_without_drop: {best}")
