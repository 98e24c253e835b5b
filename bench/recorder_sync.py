"""Audio/video offset over a long live recording, measured with flash-and-beep markers.

Every two seconds the environment camera shows a bright flash and, at the same instant, the
microphone hears a 1 kHz beep. The microphone is made as imperfect as a real sound card: its
crystal runs 300 ppm fast, and its chunks reach the agent 2 to 12 ms after capture, stamped by
``CaptureClock``. The recording runs in real time on the host's monotonic clock; afterwards every
flash in the file is paired with its beep and the offsets are reported.
"""

from __future__ import annotations

import random
import statistics
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import av
import numpy as np

from branch_agent.recorder import (
    EncoderSettings,
    OverlayRenderer,
    PipCompositor,
    PipLayout,
    RecordingEngine,
    sale_overlay,
)
from branch_agent.sources import (
    AudioChunk,
    CaptureClock,
    SourceHealth,
    SyntheticVideoSource,
    VideoFrame,
)

_NS = 1_000_000_000
FPS = 25
PERIOD_FRAMES = 50  # a marker every two seconds
FLASH_FRAMES = 3
DEVICE_PPM = 300
CHUNK = 1024


@dataclass(frozen=True)
class Pattern:
    """When markers happen: at ``origin_ns + k * period``, lasting ``length`` (monotonic ns)."""

    origin_ns: int
    period_ns: int
    length_ns: int

    def active(self, t_ns: float) -> bool:
        return t_ns >= self.origin_ns and (t_ns - self.origin_ns) % self.period_ns < self.length_ns


class FlashingCamera:
    """A 1080p camera whose frames are captured on the pattern's frame grid; markers flash white."""

    def __init__(self, name: str, pattern: Pattern) -> None:
        self.name = name
        self._pattern = pattern
        self._dark = self._picture(90)
        self._bright = self._picture(235)
        self._latest: VideoFrame | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"camera-{name}", daemon=True)

    @staticmethod
    def _picture(luma: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        y = np.full((1080, 1920), luma, np.uint8)
        chroma = np.full((540, 960), 128, np.uint8)
        return y, chroma, chroma

    def open(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()

    def latest_frame(self) -> VideoFrame | None:
        return self._latest

    def health(self) -> SourceHealth:
        return SourceHealth(self.name, True, 0.0, FPS, 0, 0, "")

    def _run(self) -> None:
        period = _NS // FPS
        k = max(0, (time.monotonic_ns() - self._pattern.origin_ns) // period + 1)
        while not self._stop.is_set():
            due = self._pattern.origin_ns + k * period
            now = time.monotonic_ns()
            if now < due:
                self._stop.wait((due - now) / _NS)
                continue
            y, u, v = self._bright if self._pattern.active(due) else self._dark
            # Stamped with the capture instant, as a camera's timestamp mapped to the host clock.
            self._latest = VideoFrame(y=y, u=u, v=v, pts_ns=due)
            k += 1


class BeepingMicrophone:
    """A sound card running ``DEVICE_PPM`` fast that beeps during the pattern's markers."""

    def __init__(self, name: str, pattern: Pattern, sample_rate: int) -> None:
        self.name = name
        self.sample_rate = sample_rate
        self._pattern = pattern
        self._device_rate = sample_rate * (1 + DEVICE_PPM * 1e-6)
        self._clock = CaptureClock(sample_rate)
        self._queue: list[AudioChunk] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"mic-{name}", daemon=True)
        self._rng = random.Random(1)

    def open(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()

    def read(self, max_chunks: int) -> list[AudioChunk]:
        with self._lock:
            out, self._queue = self._queue[:max_chunks], self._queue[max_chunks:]
        return out

    def health(self) -> SourceHealth:
        return SourceHealth(self.name, True, 0.0, self.sample_rate / CHUNK, 0, 0, "")

    def _run(self) -> None:
        start_ns = time.monotonic_ns()
        captured = 0
        while not self._stop.is_set():
            times = start_ns + (captured + np.arange(CHUNK)) * (_NS / self._device_rate)
            ready = times[-1] + 2_000_000 + self._rng.uniform(0, 10_000_000)
            now = time.monotonic_ns()
            if now < ready:
                self._stop.wait((ready - now) / _NS)
            on = (times >= self._pattern.origin_ns) & (
                (times - self._pattern.origin_ns) % self._pattern.period_ns < self._pattern.length_ns
            )
            tone = np.sin(2 * np.pi * 1000 * times / _NS) * 12000
            samples = np.where(on, tone, 0).astype(np.int16)
            chunk = AudioChunk(samples, self.sample_rate, self._clock.stamp(CHUNK, time.monotonic_ns()))
            captured += CHUNK
            with self._lock:
                self._queue.append(chunk)


def flash_onsets(path: Path) -> list[float]:
    # A recording that starts during a flash has no onset to measure: the first frame only primes.
    onsets, was_bright = [], True
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            y = frame.to_ndarray(format="gray")
            bright = float(y[400:600, 600:1000].mean()) > 160  # clear of the inset and the text
            if bright and not was_bright:
                onsets.append(float(frame.time))
            was_bright = bright
    return onsets


def beep_onsets(path: Path) -> list[float]:
    onsets, quiet_until = [], -1.0
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            samples = np.abs(frame.to_ndarray()[0])
            loud = np.flatnonzero(samples > 0.1)
            for index in loud:
                t = float(frame.time) + index / frame.sample_rate
                if t > quiet_until:
                    onsets.append(t)
                quiet_until = t + 0.5
    return onsets


def sync_benchmark(minutes: float, work: Path, font: Path) -> None:
    settings = EncoderSettings()
    period_ns = PERIOD_FRAMES * _NS // FPS
    pattern = Pattern(time.monotonic_ns() + 2 * _NS, period_ns, FLASH_FRAMES * _NS // FPS)
    env = FlashingCamera("env-cam", pattern)
    desk = SyntheticVideoSource("desk-cam", 720, 576, FPS, "DESK", luma=200)
    mic = BeepingMicrophone("counter-mic", pattern, settings.sample_rate)
    out = work / "sync.mp4"
    out.unlink(missing_ok=True)
    for source in (env, desk, mic):
        source.open()
    try:
        engine = RecordingEngine(
            env, desk, mic, PipCompositor(PipLayout()), OverlayRenderer(font),
            sale_overlay("北京分行营业部", "理财柜台 03", "1000001", "SN-SYNC", ZoneInfo("Asia/Shanghai")),
            out, settings,
        )  # fmt: skip
        engine.start()
        print(f"recording {minutes:g} min in real time; microphone clock {DEVICE_PPM:+d} ppm", flush=True)
        deadline = time.monotonic() + minutes * 60
        while time.monotonic() < deadline:
            time.sleep(min(60.0, max(0.0, deadline - time.monotonic())))
            status = engine.status()
            print(f"  {status.elapsed_ms / 60000:5.1f} min, {status.video_frames} frames, "
                  f"{status.dropped_ticks} skipped", flush=True)  # fmt: skip
        result = engine.stop()
    finally:
        for source in (env, desk, mic):
            source.close()
    flashes, beeps = flash_onsets(out), beep_onsets(out)
    offsets = []
    for flash in flashes:
        nearest = min(beeps, key=lambda b: abs(b - flash), default=None)
        if nearest is not None and abs(nearest - flash) < 0.5:
            offsets.append((flash, (nearest - flash) * 1000))
    expected = int(result.duration_ms / 1000 / (period_ns / _NS)) - 1
    if len(offsets) < expected:
        raise SystemExit(f"only {len(offsets)} of ~{expected} markers paired; the clip is broken")
    values = [o for _, o in offsets]
    first = [o for t, o in offsets if t < 60]
    last = [o for t, o in offsets if t > offsets[-1][0] - 60]
    print(
        f"markers paired: {len(offsets)} over {result.duration_ms / 60000:.1f} min "
        f"({result.dropped_ticks} skipped frames, {len(result.gaps)} gaps)"
    )
    print(
        f"offset audio-video: mean {statistics.mean(values):+.1f} ms, "
        f"min {min(values):+.1f} ms, max {max(values):+.1f} ms"
    )
    print(
        f"first minute mean {statistics.mean(first):+.1f} ms, "
        f"last minute mean {statistics.mean(last):+.1f} ms"
        f" (uncorrected drift would be {DEVICE_PPM * 1e-6 * result.duration_ms:.0f} ms)"
    )
    print(f"max_offset_ms: {max(abs(v) for v in values):.1f}")
