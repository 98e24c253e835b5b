"""What every camera and microphone source hands to the recorder.

All timestamps are on the agent's monotonic clock (``time.monotonic_ns()``) so that frames from
different cameras and audio from the microphone can be lined up without trusting wall time, which
may be stepped by NTP in the middle of a sale.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np


class SourceUnavailable(Exception):
    """A camera or microphone cannot deliver data; the message names the source."""

    def __init__(self, source: str, detail: str) -> None:
        super().__init__(f"source {source!r} unavailable: {detail}")
        self.source = source
        self.detail = detail


@dataclass(frozen=True)
class VideoFrame:
    """One decoded picture in I420 (yuv420p): full-size luma, quarter-size chroma planes."""

    y: np.ndarray
    u: np.ndarray
    v: np.ndarray
    pts_ns: int

    def __post_init__(self) -> None:
        # Checked once per frame at the boundary so the compositor's hot path can trust shapes.
        h, w = self.y.shape
        if h % 2 or w % 2:
            raise ValueError(f"I420 frame needs even dimensions, got {w}x{h}")
        expected = (h // 2, w // 2)
        if self.u.shape != expected or self.v.shape != expected:
            raise ValueError(f"chroma planes must be {expected}, got u={self.u.shape} v={self.v.shape}")
        if self.y.dtype != np.uint8 or self.u.dtype != np.uint8 or self.v.dtype != np.uint8:
            raise ValueError("I420 planes must be uint8")

    @property
    def width(self) -> int:
        return int(self.y.shape[1])

    @property
    def height(self) -> int:
        return int(self.y.shape[0])


@dataclass(frozen=True)
class AudioChunk:
    """Mono signed 16-bit PCM; ``pts_ns`` is the monotonic time of the first sample."""

    samples: np.ndarray
    sample_rate: int
    pts_ns: int

    def __post_init__(self) -> None:
        if self.samples.ndim != 1 or self.samples.dtype != np.int16:
            raise ValueError(f"audio chunk must be 1-D int16 mono, got {self.samples.dtype} {self.samples.shape}")
        if self.sample_rate <= 0:
            raise ValueError(f"sample rate must be positive, got {self.sample_rate}")

    @property
    def duration_ns(self) -> int:
        return len(self.samples) * 1_000_000_000 // self.sample_rate


@dataclass
class SourceHealth:
    """Snapshot for the status page and for the recorder's refusal messages."""

    name: str
    connected: bool
    last_frame_age_s: float | None
    fps: float
    errors: int
    reconnects: int
    detail: str
    kind: str = ""
    # Received media bitrate over the last seconds; 0 where the source is not a stream.
    bitrate_kbps: float = 0.0
    # Camera clock minus host clock, where the camera tells its time (ONVIF, GB/T 28181).
    clock_offset_s: float | None = None
    # Sound dropped while a recorder was reading (it fell behind): in all, and within the last minute,
    # which is what tells whether the microphone is losing sound now.
    dropped: int = 0
    dropped_recent: int = 0
    # The device's own identity where it tells it (ONVIF GetDeviceInformation).
    manufacturer: str = ""
    model: str = ""
    firmware: str = ""


@runtime_checkable
class VideoSource(Protocol):
    """A camera that keeps only its most recent decoded picture.

    The recorder samples the latest picture on its own output clock, so a source never queues
    frames: a slow consumer must not make the camera fall behind real time.
    """

    name: str

    def open(self) -> None: ...

    def close(self) -> None: ...

    def latest_frame(self) -> VideoFrame | None: ...

    def health(self) -> SourceHealth: ...


@runtime_checkable
class AudioSource(Protocol):
    """A microphone whose every sample matters, so chunks are queued until read."""

    name: str

    def open(self) -> None: ...

    def close(self) -> None: ...

    def read(self, max_chunks: int) -> list[AudioChunk]: ...

    def health(self) -> SourceHealth: ...
