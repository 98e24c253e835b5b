"""The recorder: two cameras and a microphone in, one picture-in-picture evidence file out.

One thread runs the output clock (the host's monotonic clock when recording): frame ``n`` is due at
``origin + n / fps``. At each tick it samples the latest picture of each camera, composes,
burns in the text, encodes, and moves the microphone's audio onto the same timeline. Timestamps
in the file are derived from that clock only, never from how fast work gets done, so sound and
picture cannot drift apart: when the machine is too slow, ticks are skipped (and counted) instead
of being written late.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from branch_agent.recorder.clock import Clock, MonotonicClock
from branch_agent.recorder.compositor import PipCompositor
from branch_agent.recorder.gaps import AudioAligner, Gap, VideoGapTracker
from branch_agent.recorder.mp4_writer import EncoderSettings, ThreadedMp4Writer
from branch_agent.recorder.overlay import OverlayRenderer, OverlayText
from branch_agent.sources.base import (
    AudioSource,
    SourceUnavailable,
    VideoFrame,
    VideoSource,
)

_log = logging.getLogger(__name__)
_NS = 1_000_000_000
_AUDIO_READ_BATCH = 64


class RecordingFailed(Exception):
    """The recording thread stopped on an error; the file holds what was written before it."""


@dataclass(frozen=True)
class EngineTiming:
    """Tolerances of the recorder's clock, in seconds."""

    first_frame_timeout_s: float = 5.0
    # A camera picture older than this is treated as frozen: repeated, and reported as a gap.
    stall_threshold_s: float = 1.0
    # Audio arrives after it is captured; silence is only filled in for stretches older than this.
    audio_latency_s: float = 0.5
    # Audio timestamp differences smaller than this are absorbed instead of padded or trimmed.
    audio_jitter_s: float = 0.02
    # How far behind the output clock may fall before ticks are skipped rather than written late.
    max_lag_frames: int = 2


@dataclass(frozen=True)
class EngineResult:
    path: Path
    started_monotonic_ns: int
    ended_monotonic_ns: int
    started_at_utc: datetime
    ended_at_utc: datetime
    duration_ms: int
    video_frames: int
    audio_samples: int
    width: int
    height: int
    fps: int
    video_codec: str
    audio_codec: str
    sample_rate: int
    gaps: list[Gap] = field(default_factory=list)
    dropped_ticks: int = 0


@dataclass(frozen=True)
class EngineStatus:
    """What the counter UI shows while recording."""

    running: bool
    elapsed_ms: int
    video_frames: int
    dropped_ticks: int
    stalled_sources: list[str]
    failure: str | None


class RecordingEngine:
    """Records one clip. ``start()`` once, then ``stop()`` (keep) or ``abort()`` (cancel).

    The engine does not open or close the sources: cameras stay connected between recordings so
    their status is always visible, and the engine only samples them while it runs.
    """

    def __init__(
        self,
        env: VideoSource,
        desk: VideoSource,
        mic: AudioSource,
        compositor: PipCompositor,
        overlay: OverlayRenderer,
        overlay_text: Callable[[datetime], OverlayText],
        output_path: str | Path,
        settings: EncoderSettings,
        timing: EngineTiming | None = None,
        clock: Clock | None = None,
    ) -> None:
        names = [env.name, desk.name, mic.name]
        if len(set(names)) != len(names):
            # Gaps are reported by source name, so the names must tell the sources apart.
            raise ValueError(f"source names must be distinct, got {names}")
        self.env = env
        self.desk = desk
        self.mic = mic
        self.compositor = compositor
        self.overlay = overlay
        self.overlay_text = overlay_text
        self.output_path = Path(output_path)
        self.settings = settings
        self.timing = timing or EngineTiming()
        self.clock = clock or MonotonicClock()
        self._stall_ns = int(self.timing.stall_threshold_s * _NS)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._writer: ThreadedMp4Writer | None = None
        self._failure: BaseException | None = None
        self._finished = False
        self._origin_ns = 0
        self._started_at_utc: datetime | None = None
        self._next_tick = 0  # index of the next output frame slot
        self._frames = 0
        self._dropped = 0
        self._last: dict[str, VideoFrame] = {}
        self._video_gaps: VideoGapTracker | None = None
        self._audio: AudioAligner | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None or self._finished:
            raise RuntimeError("a RecordingEngine records one clip; create a new one")
        self._wait_for_pictures()
        self._rehearse()
        lay = self.compositor.layout
        self._writer = ThreadedMp4Writer(self.output_path, self.settings, lay.output_width, lay.output_height)
        # The origin is taken after the encoder is set up so frame 0 is due immediately.
        self._origin_ns = self.clock.monotonic_ns()
        self._started_at_utc = datetime.now(UTC)
        self._video_gaps = VideoGapTracker(self._origin_ns)
        rate = self.settings.sample_rate
        self._audio = AudioAligner(
            source=self.mic.name,
            sample_rate=rate,
            origin_ns=self._origin_ns,
            write=self._writer.write_audio,
            jitter_samples=int(self.timing.audio_jitter_s * rate),
            gap_samples=int(self.timing.stall_threshold_s * rate),
        )
        self._thread = threading.Thread(target=self._run, name="recorder-clock", daemon=True)
        self._thread.start()

    def stop(self) -> EngineResult:
        """Finish the clip: pad audio to the last frame, close the file, report what was made.

        Raises ``RecordingFailed`` if the recording thread died; the file then holds everything
        up to its last complete fragment.
        """
        writer, audio, gaps = self._halt()
        if self._failure is not None:
            try:
                writer.close()
            finally:
                raise RecordingFailed(f"recording {self.output_path} failed: {self._failure!r}") from self._failure
        fps = self.settings.fps
        end_tick = self._next_tick
        end_ns = self._origin_ns + end_tick * _NS // fps
        end_sample = end_tick * self.settings.sample_rate // fps
        self._drain_audio_until(end_sample, audio)
        mic_gaps = audio.finish(end_sample)
        writer.close()
        duration_ms = end_tick * 1000 // fps
        started = self._started_at_utc
        assert started is not None  # set by start(), which _halt() requires
        return EngineResult(
            path=self.output_path,
            started_monotonic_ns=self._origin_ns,
            ended_monotonic_ns=end_ns,
            started_at_utc=started,
            ended_at_utc=started + timedelta(microseconds=(end_ns - self._origin_ns) // 1000),
            duration_ms=duration_ms,
            video_frames=self._frames,
            audio_samples=audio.position,
            width=writer.width,
            height=writer.height,
            fps=fps,
            video_codec="h264",
            audio_codec="aac",
            sample_rate=self.settings.sample_rate,
            gaps=sorted(gaps.finish(end_ns) + mic_gaps, key=lambda g: (g.start_ms, g.source)),
            dropped_ticks=self._dropped,
        )

    def abort(self) -> None:
        """Cancel: stop and close the file without building a result.

        The closed file is left in place; deleting a cancelled clip is the caller's decision
        (it is also what the audit line describes). An encoder failure still surfaces here, so
        the caller can log it; the file is closed either way.
        """
        if self._thread is None or self._finished:
            return
        writer, _, _ = self._halt()
        writer.close()

    def status(self) -> EngineStatus:
        running = self._thread is not None and self._thread.is_alive()
        gaps = self._video_gaps
        return EngineStatus(
            running=running,
            elapsed_ms=(self.clock.monotonic_ns() - self._origin_ns) // 1_000_000 if running else 0,
            video_frames=self._frames,
            dropped_ticks=self._dropped,
            stalled_sources=gaps.open_sources() if gaps is not None else [],
            failure=repr(self._failure) if self._failure is not None else None,
        )

    # -- internals -----------------------------------------------------------------------------

    def _wait_for_pictures(self) -> None:
        timeout_ns = int(self.timing.first_frame_timeout_s * _NS)
        deadline = self.clock.monotonic_ns() + timeout_ns
        pending = [self.env, self.desk]
        while True:
            now = self.clock.monotonic_ns()
            pending = [s for s in pending if not self._is_fresh(s.latest_frame(), now)]
            if not pending:
                return
            if now >= deadline:
                source = pending[0]
                health = source.health()
                detail = f"no picture within {self.timing.first_frame_timeout_s:g} s"
                if health.detail:
                    detail += f" ({health.detail})"
                raise SourceUnavailable(source.name, detail)
            self.clock.wait(self._stop, 0.02)

    def _rehearse(self) -> None:
        # Compose one picture with text before the file exists, so a bad layout, overlay text that
        # does not fit, or a failing text callback is refused by start() rather than killing the
        # recording a moment later.
        env, desk = self.env.latest_frame(), self.desk.latest_frame()
        assert env is not None and desk is not None  # _wait_for_pictures saw both
        y, u, v = self.compositor.compose(env, desk)
        self.overlay.apply(y, u, v, self.overlay_text(datetime.now(UTC)))

    def _is_fresh(self, frame: VideoFrame | None, now_ns: int) -> bool:
        return frame is not None and now_ns - frame.pts_ns <= self._stall_ns

    def _halt(self) -> tuple[ThreadedMp4Writer, AudioAligner, VideoGapTracker]:
        thread = self._thread
        if thread is None:
            raise RuntimeError("recording was never started")
        if self._finished:
            raise RuntimeError("recording already stopped")
        self._finished = True
        self._stop.set()
        thread.join()
        assert self._writer and self._audio and self._video_gaps  # all set by start()
        return self._writer, self._audio, self._video_gaps

    def _run(self) -> None:
        fps = self.settings.fps
        # Cameras are sampled half a frame after a slot's time: the latest picture then is the
        # one captured nearest to it, so picture and sound (placed by capture time) are at most
        # half a frame apart instead of up to a whole frame.
        half_frame_ns = _NS // (2 * fps)
        try:
            while not self._stop.is_set():
                n = self._next_tick
                due = self._origin_ns + n * _NS // fps
                now = self.clock.monotonic_ns()
                if now < due + half_frame_ns:
                    self.clock.wait(self._stop, (due + half_frame_ns - now) / _NS)
                    continue
                current = (now - half_frame_ns - self._origin_ns) * fps // _NS
                if current - n > self.timing.max_lag_frames:
                    # Too slow to keep up: skip to the current slot rather than drift.
                    self._dropped += current - n
                    n = current
                    due = self._origin_ns + n * _NS // fps
                self._tick(n, due, now)
                self._next_tick = n + 1
        except BaseException as exc:
            self._failure = exc
            _log.exception("recording %s failed", self.output_path)

    def _tick(self, n: int, due_ns: int, now_ns: int) -> None:
        env = self._sample(self.env, now_ns)
        desk = self._sample(self.desk, now_ns)
        started, writer = self._started_at_utc, self._writer
        assert started is not None and writer is not None  # set by start()
        picture = writer.new_video_frame(n)
        self.compositor.compose_into(env, desk, picture.y, picture.u, picture.v)
        # Overlay time follows the recording clock, so an NTP step cannot make it jump mid-clip.
        # The callback gets UTC and shows it in the branch's time zone (see sale_overlay).
        at = started + timedelta(microseconds=(due_ns - self._origin_ns) // 1000)
        self.overlay.apply(picture.y, picture.u, picture.v, self.overlay_text(at))
        writer.submit_video(picture)
        self._frames += 1
        self._pump_audio(now_ns, limit=(n + 1) * self.settings.sample_rate // self.settings.fps)

    def _sample(self, source: VideoSource, now_ns: int) -> VideoFrame:
        frame = source.latest_frame() or self._last.get(source.name)
        if frame is None:
            # start() saw a picture from every camera, so only a broken source gets here.
            raise SourceUnavailable(source.name, "picture disappeared during recording")
        stale = not self._is_fresh(frame, now_ns)
        assert self._video_gaps is not None
        self._video_gaps.observe(source.name, frame.pts_ns, now_ns, stale)
        self._last[source.name] = frame
        return frame

    def _pump_audio(self, now_ns: int, limit: int) -> None:
        """Move microphone audio onto the timeline, up to sample ``limit`` (the video's end)."""
        audio = self._audio
        assert audio is not None
        while True:
            chunks = self.mic.read(_AUDIO_READ_BATCH)
            for chunk in chunks:
                audio.push(chunk)
            if len(chunks) < _AUDIO_READ_BATCH:
                break
        latency_ns = int(self.timing.audio_latency_s * _NS)
        audio.advance(limit, silence_until=audio.sample_at(now_ns - latency_ns))

    def _drain_audio_until(self, end_sample: int, audio: AudioAligner) -> None:
        # Audio of the last moments is still in flight; wait for it up to the allowed latency.
        deadline = self.clock.monotonic_ns() + int(self.timing.audio_latency_s * _NS)
        never = threading.Event()
        while True:
            self._pump_audio(self.clock.monotonic_ns(), limit=end_sample)
            if audio.position >= end_sample or self.clock.monotonic_ns() >= deadline:
                return
            self.clock.wait(never, 0.01)
