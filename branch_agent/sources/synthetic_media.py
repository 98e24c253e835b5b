"""Synthetic sources that show real photographs and play real recordings, for tests and benchmarks.

Like the sources in ``synthetic``, but with real content where a check of a clip needs it (a face in
the desk camera, a person in the environment picture, a voice on the microphone), on a script fixed
in advance: which photo from when, when the camera stalls, when the microphone drops out. They are
timed by a clock, the host's monotonic clock unless another is given; with the recorder's
free-running clock a clip of them is rendered faster than real time, with the same content.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import av
import cv2
import numpy as np

from branch_agent.sources.base import AudioChunk, SourceHealth, VideoFrame

_NS = 1_000_000_000


class _Clock(Protocol):
    def monotonic_ns(self) -> int: ...


class _HostClock:
    def monotonic_ns(self) -> int:
        return time.monotonic_ns()


def _within(t_s: float, spans: Sequence[tuple[float, float]]) -> tuple[float, float] | None:
    return next(((a, b) for a, b in spans if a <= t_s < b), None)


def image_to_i420(image: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An RGB or grey photograph scaled to cover ``width`` x ``height`` (centre crop), as I420 planes."""
    rgb = np.repeat(image[:, :, None], 3, axis=2) if image.ndim == 2 else image[:, :, :3]
    h, w = rgb.shape[:2]
    scale = max(width / w, height / h)
    cw, ch = min(w, round(width / scale)), min(h, round(height / scale))
    crop = np.ascontiguousarray(rgb[(h - ch) // 2 : (h - ch) // 2 + ch, (w - cw) // 2 : (w - cw) // 2 + cw])
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    yuv = cv2.cvtColor(cv2.resize(crop, (width, height), interpolation=interp), cv2.COLOR_RGB2YUV_I420)
    quarter = height // 4
    u = yuv[height : height + quarter].reshape(height // 2, width // 2)
    v = yuv[height + quarter :].reshape(height // 2, width // 2)
    return yuv[:height], u, v


class StillImageVideoSource:
    """A camera looking at still scenes: photographs shown in turn, with a little sensor noise.

    ``scenes`` are ``(start_s, image)`` pairs, seconds after ``open()``; each image (RGB or grey)
    is shown from its start until the next one's. The noise keeps the picture live, as a real
    camera's is. During ``stalls`` (``(start_s, end_s)`` pairs) the camera delivers nothing new:
    its last picture stays, with its capture time, as a stalled stream's does. Frames exist once
    ``clock`` has passed them (the host's monotonic clock unless another is given).
    """

    _NOISE_VARIANTS = 4

    def __init__(
        self,
        name: str,
        scenes: Sequence[tuple[float, np.ndarray]],
        width: int = 1920,
        height: int = 1080,
        fps: float = 25.0,
        *,
        noise: float = 2.0,
        stalls: Sequence[tuple[float, float]] = (),
        clock: _Clock | None = None,
    ) -> None:
        if width % 2 or height % 2 or width <= 0 or height <= 0 or fps <= 0:
            raise ValueError(f"I420 needs positive even dimensions and a positive rate, got {width}x{height}@{fps}")
        if not scenes or sorted(s for s, _ in scenes) != [s for s, _ in scenes] or scenes[0][0] > 0:
            raise ValueError("scenes must start at 0 s and be in time order")
        self.name = name
        self.width, self.height, self.fps = width, height, fps
        self._period_ns = round(_NS / fps)
        self._stalls = list(stalls)
        self._clock: _Clock = clock or _HostClock()
        self._origin_ns: int | None = None
        rng = np.random.default_rng(len(name))
        self._scenes: list[tuple[float, list[np.ndarray], np.ndarray, np.ndarray]] = []
        for start, image in scenes:
            y, u, v = image_to_i420(image, width, height)
            lumas = []
            for _ in range(self._NOISE_VARIANTS if noise > 0 else 1):
                grain = rng.normal(0.0, noise, y.shape) if noise > 0 else 0.0
                lumas.append(np.clip(y + grain, 16, 235).astype(np.uint8))
            self._scenes.append((start, lumas, u.copy(), v.copy()))

    def open(self) -> None:
        self._origin_ns = self._clock.monotonic_ns()

    def close(self) -> None:
        self._origin_ns = None

    def latest_frame(self) -> VideoFrame | None:
        origin = self._origin_ns
        if origin is None:
            return None
        index = (self._clock.monotonic_ns() - origin) // self._period_ns
        stall = _within(index * self._period_ns / _NS, self._stalls)
        if stall is not None:
            index = max(0, int(stall[0] * _NS) // self._period_ns - 1)
        t_s = index * self._period_ns / _NS
        _, lumas, u, v = next(s for s in reversed(self._scenes) if s[0] <= t_s)
        return VideoFrame(y=lumas[index % len(lumas)], u=u, v=v, pts_ns=origin + index * self._period_ns)

    def health(self) -> SourceHealth:
        frame = self.latest_frame()
        now = self._clock.monotonic_ns()
        return SourceHealth(
            name=self.name,
            connected=self._origin_ns is not None,
            last_frame_age_s=(now - frame.pts_ns) / _NS if frame is not None else None,
            fps=self.fps,
            errors=0,
            reconnects=0,
            detail="" if self._origin_ns is not None else "not open",
            kind="synthetic",
        )


def load_sound(path: str | Path, sample_rate: int = 48000) -> np.ndarray:
    """A sound file (anything FFmpeg reads: WAV, Ogg, GSM, …) as mono int16 at ``sample_rate``."""
    resampler = av.AudioResampler(format="s16", layout="mono", rate=sample_rate)
    parts: list[np.ndarray] = []
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            parts.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(frame))
    parts.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(None))
    return np.concatenate(parts).astype(np.int16) if parts else np.zeros(0, dtype=np.int16)


class WavAudioSource:
    """A microphone playing a recording: a sound file or int16 mono samples at ``sample_rate``.

    After the end it delivers silence, or starts over with ``loop``. During ``dropouts``
    (``(start_s, end_s)`` pairs after ``open()``) it delivers nothing, as a microphone that dropped
    out. Chunks exist once ``clock`` has passed their last sample.
    """

    def __init__(
        self,
        name: str,
        sound: str | Path | np.ndarray,
        sample_rate: int = 48000,
        chunk_samples: int = 1024,
        *,
        gain: float = 1.0,
        loop: bool = False,
        dropouts: Sequence[tuple[float, float]] = (),
        clock: _Clock | None = None,
    ) -> None:
        if sample_rate <= 0 or chunk_samples <= 0:
            raise ValueError("sample_rate and chunk_samples must be positive")
        samples = sound if isinstance(sound, np.ndarray) else load_sound(sound, sample_rate)
        if samples.ndim != 1 or samples.dtype != np.int16 or len(samples) == 0:
            raise ValueError("the sound must be non-empty 1-D int16 mono samples")
        self.name = name
        self.sample_rate = sample_rate
        self.chunk_samples = chunk_samples
        self._samples = np.clip(samples.astype(np.float64) * gain, -32768, 32767).astype(np.int16)
        self._loop = loop
        self._dropouts = list(dropouts)
        self._clock: _Clock = clock or _HostClock()
        self._lock = threading.Lock()
        self._origin_ns: int | None = None
        self._sent = 0

    def open(self) -> None:
        with self._lock:
            self._origin_ns = self._clock.monotonic_ns()
            self._sent = 0

    def close(self) -> None:
        with self._lock:
            self._origin_ns = None

    def _slice(self, start: int, count: int) -> np.ndarray:
        n = len(self._samples)
        if self._loop:
            return self._samples[np.arange(start, start + count) % n]
        out = np.zeros(count, dtype=np.int16)
        if start < n:
            part = self._samples[start : start + count]
            out[: len(part)] = part
        return out

    def read(self, max_chunks: int) -> list[AudioChunk]:
        out: list[AudioChunk] = []
        with self._lock:
            origin = self._origin_ns
            if origin is None:
                return out
            available = (self._clock.monotonic_ns() - origin) * self.sample_rate // _NS
            while len(out) < max_chunks and self._sent + self.chunk_samples <= available:
                start, self._sent = self._sent, self._sent + self.chunk_samples
                if _within(start / self.sample_rate, self._dropouts) is None:
                    pts = origin + start * _NS // self.sample_rate
                    out.append(AudioChunk(self._slice(start, self.chunk_samples), self.sample_rate, pts))
        return out

    def health(self) -> SourceHealth:
        return SourceHealth(
            name=self.name,
            connected=self._origin_ns is not None,
            last_frame_age_s=0.0 if self._origin_ns is not None else None,
            fps=self.sample_rate / self.chunk_samples,
            errors=0,
            reconnects=0,
            detail="" if self._origin_ns is not None else "not open",
            kind="synthetic",
        )
