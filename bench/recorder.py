"""Recorder benchmarks.

    python bench/recorder.py            throughput against the ffmpeg command line  -> ratio: X
    python bench/recorder.py --sync     audio/video offset over a long live recording -> max_offset_ms: X
    python bench/recorder.py --crash    seconds of a clip lost to kill -9             -> lost_s: X
    python bench/recorder.py --counters N  1..N counters recording at once in real time
                                        -> max_counters_without_drop: X

Throughput: the recorder and ffmpeg do the same job on the same input in the same invocation:
a 1920x1080 environment picture with a 720x576 desk picture scaled into the corner inside a
border, three lines of burned-in text including the time, a 48 kHz tone, x264 with the same
preset, bitrate, GOP and B-frames, AAC, fragmented MP4. The recorder runs on a free-running clock
so that it works as fast as the machine allows instead of at 25 frames a second.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from recorder_inputs import ClockedToneSource, LoopedFrameSource, RawClip, make_raw_clip

from branch_agent.recorder import (
    EncoderSettings,
    FreeRunningClock,
    OverlayRenderer,
    PipCompositor,
    PipLayout,
    RecordingEngine,
    sale_overlay,
)

FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
TZ = ZoneInfo("Asia/Shanghai")
BRANCH, COUNTER, STAFF, SERIAL = "北京分行营业部", "理财柜台 03", "1000001", "SN20261122000123"
FPS = 25


@dataclass(frozen=True)
class Run:
    frames: int
    seconds: float

    @property
    def fps(self) -> float:
        return self.frames / self.seconds


def run_recorder(env: RawClip, desk: RawClip, out: Path, settings: EncoderSettings, seconds: int) -> Run:
    clock = FreeRunningClock()
    engine = RecordingEngine(
        LoopedFrameSource("env-cam", env.frames(), FPS, clock),
        LoopedFrameSource("desk-cam", desk.frames(), FPS, clock),
        ClockedToneSource("counter-mic", settings.sample_rate, clock),
        PipCompositor(PipLayout()),
        OverlayRenderer(FONT),
        sale_overlay(BRANCH, COUNTER, STAFF, SERIAL, TZ),
        out,
        settings,
        clock=clock,
    )
    target = seconds * FPS
    started = time.perf_counter()
    engine.start()
    while engine.status().video_frames < target:
        time.sleep(0.005)
    result = engine.stop()
    elapsed = time.perf_counter() - started
    if result.dropped_ticks:
        raise SystemExit(f"recorder skipped {result.dropped_ticks} frames on a free-running clock")
    return Run(frames=result.video_frames, seconds=elapsed)


def ffmpeg_command(
    env: RawClip, desk: RawClip, text_file: Path, out: Path, settings: EncoderSettings, seconds: int
) -> list[str]:
    lay = PipLayout()
    x, y = lay.inset_origin()
    b = lay.border_width
    overlay = OverlayRenderer(FONT)
    graph = (
        f"[1:v]scale={lay.inset_width}:{lay.inset_height}[inset];"
        f"[0:v]drawbox=x={x - b}:y={y - b}:w={lay.inset_width + 2 * b}:h={lay.inset_height + 2 * b}"
        f":color=white:t=fill[bg];"
        f"[bg][inset]overlay={x}:{y},"
        f"drawtext=fontfile={FONT}:textfile={text_file}:fontsize={overlay.font_size}"
        f":fontcolor=white:borderw=2:bordercolor=black:line_spacing=6"
        f":x={overlay.margin}:y={overlay.margin}[v]"
    )
    gop = settings.gop_frames
    raw = ["-f", "rawvideo", "-pix_fmt", "yuv420p", "-r", str(FPS), "-stream_loop", "-1"]
    return [
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
        *raw[:6], "-s", f"{env.width}x{env.height}", *raw[6:], "-i", str(env.path),
        *raw[:6], "-s", f"{desk.width}x{desk.height}", *raw[6:], "-i", str(desk.path),
        "-f", "lavfi", "-i", f"sine=frequency=1000:sample_rate={settings.sample_rate}",
        "-filter_complex", graph, "-map", "[v]", "-map", "2:a", "-t", str(seconds),
        "-c:v", "libx264", "-preset", settings.preset, "-b:v", str(settings.bitrate),
        "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0", "-bf", str(settings.b_frames),
        "-c:a", "aac", "-b:a", str(settings.audio_bitrate), "-ac", "1",
        "-movflags", "frag_keyframe+empty_moov+default_base_moof", "-f", "mp4", str(out),
    ]  # fmt: skip


def run_ffmpeg(command: list[str], seconds: int) -> Run:
    started = time.perf_counter()
    subprocess.run(command, check=True)
    return Run(frames=seconds * FPS, seconds=time.perf_counter() - started)


def check_output(path: Path, seconds: int) -> str:
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_name:format=duration",
         "-of", "default=nw=1:nk=1", str(path)],
        check=True, capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    codecs, duration = sorted(probe[:-1]), float(probe[-1])
    if codecs != ["aac", "h264"] or abs(duration - seconds) > 0.5:
        raise SystemExit(f"{path.name}: unexpected output {codecs}, {duration:.2f} s")
    return f"{path.stat().st_size / 1e6:.1f} MB, {duration:.2f} s"


def throughput(args: argparse.Namespace, work: Path) -> None:
    settings = EncoderSettings()
    env = make_raw_clip(work, "env", 1920, 1080, FPS)
    desk = make_raw_clip(work, "desk", 720, 576, FPS)
    text_file = work / "overlay.txt"
    lines = sale_overlay(BRANCH, COUNTER, STAFF, SERIAL, TZ)(datetime.now(UTC)).lines
    text_file.write_text("\n".join(["%{localtime:%Y-%m-%d %H\\:%M\\:%S}", *lines[1:]]), encoding="utf-8")
    print(
        f"input: {args.seconds} s of {env.width}x{env.height} + {desk.width}x{desk.height} at {FPS} fps,"
        f" tone at {settings.sample_rate} Hz"
    )
    print(
        f"encoder: libx264 preset={settings.preset} bitrate={settings.bitrate // 1000}k "
        f"gop={settings.gop_frames} bframes={settings.b_frames}; AAC {settings.audio_bitrate // 1000}k;"
        " fragmented MP4"
    )
    print(f"x264 frame threads: recorder {settings.frame_threads}, ffmpeg its default (1.5 per core)")
    ff_runs, rec_runs = [], []
    for i in range(args.repeat):
        ff_out, rec_out = work / f"ffmpeg-{i}.mp4", work / f"recorder-{i}.mp4"
        rec_out.unlink(missing_ok=True)
        ff_runs.append(run_ffmpeg(ffmpeg_command(env, desk, text_file, ff_out, settings, args.seconds), args.seconds))
        print(f"ffmpeg   run {i + 1}: {ff_runs[-1].fps:6.1f} fps  ({check_output(ff_out, args.seconds)})")
        rec_runs.append(run_recorder(env, desk, rec_out, settings, args.seconds))
        print(f"recorder run {i + 1}: {rec_runs[-1].fps:6.1f} fps  ({check_output(rec_out, args.seconds)})")
    ff_fps = statistics.median(r.fps for r in ff_runs)
    rec_fps = statistics.median(r.fps for r in rec_runs)
    print(f"ffmpeg:   {ff_fps:.1f} fps ({ff_fps / FPS:.2f}x real time)")
    print(f"recorder: {rec_fps:.1f} fps ({rec_fps / FPS:.2f}x real time)")
    print(f"ratio: {rec_fps / ff_fps:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--sync", action="store_true", help="measure audio/video offset over a long recording")
    mode.add_argument("--crash", action="store_true", help="measure what kill -9 loses")
    mode.add_argument("--counters", type=int, metavar="N", help="record on 1..N counters at once in real time")
    parser.add_argument(
        "--check", action="store_true", help="--counters: quality-check the previous clips while recording"
    )
    parser.add_argument("--seconds", type=int, default=60, help="throughput and --counters: length of the clip")
    parser.add_argument("--repeat", type=int, default=1, help="throughput: runs of each, median taken")
    parser.add_argument("--minutes", type=float, default=10.0, help="--sync: length of the recording")
    parser.add_argument("--kills", type=int, default=3, help="--crash: how many recordings to kill")
    parser.add_argument("--workdir", type=Path, help="keep inputs and outputs here")
    args = parser.parse_args()
    if not FONT.is_file():
        raise SystemExit(f"font {FONT} missing: run scripts/sysdeps.sh")
    with tempfile.TemporaryDirectory(prefix="bench-recorder-") as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        if args.sync:
            from recorder_sync import sync_benchmark

            sync_benchmark(args.minutes, work, FONT)
        elif args.counters:
            from recorder_counters import counters_benchmark

            counters_benchmark(args.counters, args.seconds, work, FONT, args.check)
        elif args.crash:
            from recorder_crash import crash_benchmark

            crash_benchmark(args.kills, work, FONT)
        else:
            throughput(args, work)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
