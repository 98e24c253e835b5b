"""Synthetic camera and microphone for demos, tests and benchmarks.

They behave like real sources where it matters to the recorder: they run on their own threads,
stamp data on the monotonic clock at capture time, keep real-time pace, and can be made to stall.
The video picture moves (a scrolling gradient and a travelling box) so that a frozen picture is
visible to a person watching a clip, and encoders get realistic, non-static work.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from branch_agent.sources.audio_queue import AudioQueue
from branch_agent.sources.base import AudioChunk, SourceHealth, VideoFrame
from branch_agent.sources.rate_meter import RateMeter

_log = logging.getLogger(__name__)

_NS = 1_000_000_000


def _label_mask(text: str, height_px: int, font_path: str | Path | None) -> np.ndarray:
    """Boolean ink mask of the label, rendered once so each frame only copies it."""
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont
    if font_path is not None:
        if not Path(font_path).is_file():
            raise FileNotFoundError(f"label font not found: {font_path}")
        font = ImageFont.truetype(str(font_path), height_px)
    else:
        font = ImageFont.load_default(size=height_px)
    # FreeType's box is typed as fractional; the pixel box of rendered text is whole.
    left, top, right, bottom = (int(edge) for edge in font.getbbox(text))
    img = Image.new("L", (max(1, right - left), max(1, bottom - top)), 0)
    ImageDraw.Draw(img).text((-left, -top), text, font=font, fill=255)
    return np.asarray(img) >= 128


class _ProducerThread:
    """Open/close/pause of a source that produces from its own thread; subclasses supply ``_run``."""

    _thread_prefix = "source"

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._paused = False
        self._errors = 0
        self._last_error = ""
        self._meter = RateMeter()

    def open(self) -> None:
        if self._thread is not None:
            raise RuntimeError(f"source {self.name!r} is already open")
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"{self._thread_prefix}-{self.name}", daemon=True)
        self._thread.start()

    def close(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        thread.join()

    def pause(self) -> None:
        with self._lock:
            self._paused = True

    def resume(self) -> None:
        with self._lock:
            self._paused = False

    def _is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        raise NotImplementedError


class SyntheticVideoSource(_ProducerThread):
    """A moving test picture generated directly in I420 at a fixed frame rate.

    ``luma`` and ``chroma`` set the picture's average brightness and tint so that two sources can
    be told apart in a composite. ``pause()``/``resume()`` and ``stall(seconds)`` stop frame
    production to imitate a camera that froze; ``latest_frame()`` then keeps returning the last
    picture, exactly as a real stalled stream would.
    """

    def __init__(
        self,
        name: str,
        width: int = 1920,
        height: int = 1080,
        fps: float = 25.0,
        label: str = "",
        *,
        luma: int = 110,
        chroma: tuple[int, int] = (128, 128),
        font_path: str | Path | None = None,
    ) -> None:
        if width % 2 or height % 2 or width <= 0 or height <= 0:
            raise ValueError(f"I420 needs positive even dimensions, got {width}x{height}")
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        super().__init__(name)
        self.width = width
        self.height = height
        self.fps = fps
        self.label = label
        self._period_ns = round(_NS / fps)
        # The pattern is periodic in x with period `width`, so any width-wide window has the same
        # mean brightness: a scrolling picture whose average stays at `luma`.
        x = np.arange(2 * width, dtype=np.float32)
        yy = np.arange(height, dtype=np.float32)
        pattern = luma + 30.0 * np.cos(2 * np.pi * x / width)[None, :] + 20.0 * (yy / height - 0.5)[:, None]
        self._band = np.clip(pattern, 16, 235).astype(np.uint8)
        self._box_luma = 235 if luma < 128 else 16
        self._box_h = max(2, height // 6)
        self._box_w = max(2, width // 10)
        # Chroma is constant, so every frame can share one read-only pair of planes.
        self._u = np.full((height // 2, width // 2), chroma[0], dtype=np.uint8)
        self._v = np.full((height // 2, width // 2), chroma[1], dtype=np.uint8)
        self._u.flags.writeable = False
        self._v.flags.writeable = False
        self._label = _label_mask(label, max(8, height // 12), font_path) if label.strip() else None
        self._latest: VideoFrame | None = None
        self._frames = 0
        self._stall_until_ns = 0

    # -- control -------------------------------------------------------------------------------

    _thread_prefix = "synthetic-video"

    def resume(self) -> None:
        with self._lock:
            self._paused = False
            self._stall_until_ns = 0

    def stall(self, seconds: float) -> None:
        """Produce no frames for ``seconds`` from now, then carry on by itself."""
        with self._lock:
            self._stall_until_ns = time.monotonic_ns() + int(seconds * _NS)

    # -- consumer side -------------------------------------------------------------------------

    def latest_frame(self) -> VideoFrame | None:
        with self._lock:
            return self._latest

    def health(self) -> SourceHealth:
        now = time.monotonic_ns()
        with self._lock:
            latest = self._latest
            running = self._is_running()
            producing = not self._paused and now >= self._stall_until_ns
            fps = self._meter.rate(now)
            errors = self._errors
            detail = self._last_error or ("" if producing else "paused")
        return SourceHealth(
            name=self.name,
            connected=running,
            last_frame_age_s=(now - latest.pts_ns) / _NS if latest is not None else None,
            fps=fps,
            errors=errors,
            reconnects=0,
            detail=detail if running else (detail or "not open"),
            kind="synthetic",
        )

    # -- producer ------------------------------------------------------------------------------

    def _run(self) -> None:
        next_due = time.monotonic_ns()
        try:
            while not self._stop.is_set():
                now = time.monotonic_ns()
                if now < next_due:
                    self._stop.wait((next_due - now) / _NS)
                    continue
                # After a long scheduling hiccup, restart the cadence instead of bursting frames.
                next_due = max(next_due + self._period_ns, now)
                with self._lock:
                    producing = not self._paused and now >= self._stall_until_ns
                if producing:
                    self._produce()
        except Exception as exc:
            with self._lock:
                self._errors += 1
                self._last_error = f"generator failed: {exc!r}"
            _log.exception("synthetic video source %r failed", self.name)
            raise

    def _produce(self) -> None:
        k = self._frames
        w, h = self.width, self.height
        shift = (k * 8) % w
        y = np.empty((h, w), dtype=np.uint8)
        y[:] = self._band[:, shift : shift + w]
        # The box travels left to right and wraps, crossing the picture in about two seconds.
        span_x = w - self._box_w
        bx = (k * max(1, w // 60)) % max(1, span_x)
        by = (h - self._box_h) // 2
        y[by : by + self._box_h, bx : bx + self._box_w] = self._box_luma
        if self._label is not None:
            lh, lw = self._label.shape
            lh, lw = min(lh, h), min(lw, w)
            top = max(0, h - h // 20 - lh)
            roi = y[top : top + lh, w // 20 : w // 20 + lw]
            np.copyto(roi, 235, where=self._label[: roi.shape[0], : roi.shape[1]])
        y.flags.writeable = False
        frame = VideoFrame(y=y, u=self._u, v=self._v, pts_ns=time.monotonic_ns())
        with self._lock:
            self._latest = frame
            self._frames += 1
            self._meter.tick(frame.pts_ns)


class ToneAudioSource(_ProducerThread):
    """A sine tone delivered in real time, like a sound card with a perfect clock.

    Chunk timestamps follow the running sample count from the moment the source was opened, so
    consecutive chunks are exactly contiguous; a paused source keeps counting samples (time goes
    on) but delivers nothing, which is how a dropped-out microphone looks to the recorder.
    """

    def __init__(
        self,
        name: str,
        frequency_hz: float = 1000.0,
        sample_rate: int = 48000,
        chunk_samples: int = 1024,
        *,
        amplitude: float = 0.3,
        max_buffered_s: float = 10.0,
    ) -> None:
        if sample_rate <= 0 or chunk_samples <= 0:
            raise ValueError("sample_rate and chunk_samples must be positive")
        if not 0.0 <= amplitude <= 1.0:
            raise ValueError(f"amplitude must be within 0..1, got {amplitude}")
        super().__init__(name)
        self.frequency_hz = frequency_hz
        self.sample_rate = sample_rate
        self.chunk_samples = chunk_samples
        self._scale = amplitude * 32767.0
        # Like a sound card's: sound nobody asked for while idle goes quietly, a recorder falling behind
        # is counted (and shown) as dropped sound.
        self._queue = AudioQueue(sample_rate, max_buffered_s)
        self._last_chunk_ns: int | None = None

    _thread_prefix = "tone-audio"

    def read(self, max_chunks: int) -> list[AudioChunk]:
        with self._lock:
            return self._queue.take(max_chunks, time.monotonic_ns())

    def health(self) -> SourceHealth:
        now = time.monotonic_ns()
        with self._lock:
            running = self._is_running()
            last = self._last_chunk_ns
            detail = self._last_error
            dropped, recent = self._queue.overruns, self._queue.recent_overruns(now)
            if dropped:
                detail = f"{detail}; " if detail else ""
                detail += f"{dropped} chunks dropped: the recorder fell behind"
            return SourceHealth(
                name=self.name,
                connected=running,
                last_frame_age_s=(now - last) / _NS if last is not None else None,
                fps=self._meter.rate(now),
                errors=self._errors + dropped,
                reconnects=0,
                detail=detail if running else (detail or "not open"),
                kind="tone",
                dropped=dropped,
                dropped_recent=recent,
            )

    def _run(self) -> None:
        origin_ns = time.monotonic_ns()
        sent = 0
        cycles_per_sample = self.frequency_hz / self.sample_rate
        offsets = np.arange(self.chunk_samples, dtype=np.float64)
        try:
            while not self._stop.is_set():
                end = sent + self.chunk_samples
                # A chunk is available once its last sample has been "captured".
                ready_ns = origin_ns + end * _NS // self.sample_rate
                now = time.monotonic_ns()
                if now < ready_ns:
                    self._stop.wait((ready_ns - now) / _NS)
                    continue
                # Phase from the absolute sample index keeps the tone continuous across chunks.
                phase = np.mod((sent + offsets) * cycles_per_sample, 1.0)
                samples = (np.sin(2 * np.pi * phase) * self._scale).astype(np.int16)
                chunk = AudioChunk(
                    samples=samples,
                    sample_rate=self.sample_rate,
                    pts_ns=origin_ns + sent * _NS // self.sample_rate,
                )
                sent = end
                with self._lock:
                    if self._paused:
                        continue
                    self._queue.put(chunk, now)
                    self._last_chunk_ns = now
                    self._meter.tick(now)
        except Exception as exc:
            with self._lock:
                self._errors += 1
                self._last_error = f"tone generator failed: {exc!r}"
            _log.exception("tone audio source %r failed", self.name)
            raise
