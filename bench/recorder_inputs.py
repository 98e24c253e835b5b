"""Benchmark inputs shared by the recorder and the ffmpeg baseline.

The same raw I420 frames (made once by ffmpeg's ``testsrc2`` with a little sensor-like noise) feed
both: ffmpeg reads them from disk in a loop, the recorder gets them through sources that follow
the recorder's free-running clock, so neither side pays for generating pictures.
"""

from __future__ import annotations

import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from branch_agent.recorder import Clock
from branch_agent.sources import AudioChunk, SourceHealth, VideoFrame

_NS = 1_000_000_000
LOOP_FRAMES = 50  # two seconds at 25 fps


@dataclass(frozen=True)
class RawClip:
    path: Path
    width: int
    height: int
    fps: int

    @property
    def frame_bytes(self) -> int:
        return self.width * self.height * 3 // 2

    def frames(self) -> list[VideoFrame]:
        raw = np.fromfile(self.path, dtype=np.uint8).reshape(-1, self.frame_bytes)
        w, h = self.width, self.height
        out = []
        for row in raw:
            y = row[: w * h].reshape(h, w)
            u = row[w * h : w * h * 5 // 4].reshape(h // 2, w // 2)
            v = row[w * h * 5 // 4 :].reshape(h // 2, w // 2)
            out.append(VideoFrame(y=y, u=u, v=v, pts_ns=0))
        return out


def make_raw_clip(directory: Path, name: str, width: int, height: int, fps: int) -> RawClip:
    path = directory / f"{name}-{width}x{height}.yuv"
    if not path.exists():
        subprocess.run(
            [
                "ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
                "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={fps}",
                "-vf", "noise=alls=6:allf=t", "-frames:v", str(LOOP_FRAMES),
                "-f", "rawvideo", "-pix_fmt", "yuv420p", str(path),
            ],
            check=True,
        )  # fmt: skip
    return RawClip(path=path, width=width, height=height, fps=fps)


class LoopedFrameSource:
    """A camera replaying stored frames in a loop, timed by the recorder's clock."""

    def __init__(self, name: str, frames: list[VideoFrame], fps: int, clock: Clock) -> None:
        self.name = name
        self._frames = frames
        self._period_ns = _NS // fps
        self._clock = clock

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def latest_frame(self) -> VideoFrame | None:
        index = self._clock.monotonic_ns() // self._period_ns
        f = self._frames[index % len(self._frames)]
        return VideoFrame(y=f.y, u=f.u, v=f.v, pts_ns=index * self._period_ns)

    def health(self) -> SourceHealth:
        return SourceHealth(self.name, True, 0.0, _NS / self._period_ns, 0, 0, "")


class ClockedToneSource:
    """A 1 kHz tone whose samples exist once the recorder's clock has passed them."""

    def __init__(self, name: str, sample_rate: int, clock: Clock, chunk: int = 1024) -> None:
        self.name = name
        self.sample_rate = sample_rate
        self._clock = clock
        self._chunk = chunk
        self._sent = 0
        self._lock = threading.Lock()
        # Two seconds of a whole number of cycles: any chunk is one slice of it.
        n = np.arange(2 * sample_rate, dtype=np.float64)
        self._tone = (np.sin(2 * np.pi * 1000 * n / sample_rate) * 8000).astype(np.int16)

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def read(self, max_chunks: int) -> list[AudioChunk]:
        out = []
        with self._lock:
            available = self._clock.monotonic_ns() * self.sample_rate // _NS
            while len(out) < max_chunks and self._sent + self._chunk <= available:
                start = self._sent % self.sample_rate
                samples = self._tone[start : start + self._chunk]
                out.append(
                    AudioChunk(
                        samples=samples,
                        sample_rate=self.sample_rate,
                        pts_ns=self._sent * _NS // self.sample_rate,
                    )
                )
                self._sent += self._chunk
        return out

    def health(self) -> SourceHealth:
        return SourceHealth(self.name, True, 0.0, self.sample_rate / self._chunk, 0, 0, "")
