"""The counter's live preview: the same picture-in-picture as the recording, small, as a JPEG.

Composed with the recorder's own PipCompositor on a scaled-down layout, so what the manager sees is
where the face will really be in the evidence. One JPEG is shared by every poller for CACHE_S, which
caps the cost at a few small compositions a second however many screens watch.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import cv2
import numpy as np

from branch_agent.config import LayoutSection
from branch_agent.counter.sources import CounterSources
from branch_agent.recorder import PipCompositor, PipLayout
from branch_agent.sources.base import VideoFrame

PREVIEW_WIDTH, PREVIEW_HEIGHT = 640, 360
RECORDING_WIDTH = 1920  # the recorder's output width; the preview layout is scaled from it
CACHE_S = 0.25
JPEG_QUALITY = 70


def _even(value: float) -> int:
    return max(2, round(value / 2) * 2)


def preview_layout(layout: LayoutSection, width: int = PREVIEW_WIDTH, height: int = PREVIEW_HEIGHT) -> PipLayout:
    scale = width / RECORDING_WIDTH
    full = PipLayout()
    return PipLayout(
        output_width=width,
        output_height=height,
        corner=layout.corner,
        inset_width=_even(layout.inset_width * scale),
        inset_height=_even(layout.inset_height * scale),
        margin=_even(full.margin * scale),
        border_width=_even(full.border_width * scale),
    )


def _black(width: int, height: int) -> VideoFrame:
    # Stands in for a camera with no picture yet; the status banner says which one and why.
    return VideoFrame(
        y=np.full((height, width), 16, np.uint8),
        u=np.full((height // 2, width // 2), 128, np.uint8),
        v=np.full((height // 2, width // 2), 128, np.uint8),
        pts_ns=0,
    )


def i420_to_jpeg(y: np.ndarray, u: np.ndarray, v: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    h, w = y.shape
    packed = np.concatenate((y.ravel(), u.ravel(), v.ravel())).reshape(h * 3 // 2, w)
    bgr = cv2.cvtColor(packed, cv2.COLOR_YUV2BGR_I420)
    ok, encoded = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("OpenCV could not encode the preview JPEG")
    return encoded.tobytes()


class PreviewRenderer:
    """One per counter; thread-safe, since every request thread may ask at once."""

    def __init__(
        self, sources: CounterSources, layout: LayoutSection, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.sources = sources
        self.layout = preview_layout(layout)
        self._compositor = PipCompositor(self.layout)
        self._clock = clock
        self._lock = threading.Lock()
        self._jpeg: bytes | None = None
        self._made_at = 0.0
        self.renders = 0

    def jpeg(self) -> bytes:
        with self._lock:
            now = self._clock()
            if self._jpeg is None or now - self._made_at >= CACHE_S:
                self._jpeg = self._render()
                self._made_at = now
                self.renders += 1
            return self._jpeg

    def _render(self) -> bytes:
        lay = self.layout
        env = self.sources.environment.latest_frame() or _black(lay.output_width, lay.output_height)
        desk = self.sources.desk.latest_frame() or _black(lay.inset_width, lay.inset_height)
        y, u, v = self._compositor.compose(env, desk)
        return i420_to_jpeg(y, u, v)
