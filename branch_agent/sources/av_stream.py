"""One camera or microphone connection through PyAV (FFmpeg): RTSP, files, V4L2 and ALSA devices.

A reader thread connects, demuxes and decodes, keeps the most recent picture, queues the sound, and
when anything goes wrong (camera unplugged, network down, server restarted) reconnects with a
capped exponential backoff, forever, until closed. The recorder never waits for it: while the
reader is away, the last picture stays the latest one, the recorder sees it go stale and writes a
gap, and recording goes on.

A camera with a microphone is one connection serving two sources (its picture and its sound), so
the reader is shared and reference-counted: ``FeedVideoSource`` and ``FeedAudioSource`` (shared_feed.py) are the
views the recorder holds.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import av
import av.error
import numpy as np

from branch_agent.sources.audio_queue import AudioQueue
from branch_agent.sources.base import AudioChunk, SourceHealth, VideoFrame
from branch_agent.sources.rate_meter import RateMeter
from branch_agent.sources.shared_feed import SharedWorker
from branch_agent.sources.stream_clock import StreamClock
from branch_agent.sources.stream_target import ReconnectPolicy, StreamTarget, TargetResolver, describe_stream_error

_log = logging.getLogger(__name__)
_NS = 1_000_000_000


@dataclass(frozen=True)
class StreamSettings:
    want_video: bool = True
    want_audio: bool = False
    # The recording's audio format: every source delivers mono 16-bit PCM at this rate.
    sample_rate: int = 48000
    open_timeout_s: float = 10.0
    read_timeout_s: float = 5.0
    # Files are played at their own pace, like a camera, and start over at the end.
    realtime: bool = False
    loop: bool = False
    # Known capture-to-arrival delay of this camera, taken off its stamps (measured at installation).
    latency_ms: int = 0
    max_audio_buffer_s: float = 10.0

    def __post_init__(self) -> None:
        if not (self.want_video or self.want_audio):
            raise ValueError("a stream must deliver video, audio or both")
        if self.open_timeout_s <= 0 or self.read_timeout_s <= 0:
            raise ValueError("timeouts must be positive")
        if not 0 <= self.latency_ms <= 400:
            raise ValueError(
                f"latency_ms must be within 0..400 (the recorder waits 500 ms for sound), got {self.latency_ms}"
            )


class _Stop(Exception):
    """Raised inside the reader loop when close() asks it to end."""


def _plane(plane: av.video.plane.VideoPlane, width: int, height: int) -> np.ndarray:
    # Copy out of FFmpeg's buffer, which the decoder reuses for the next frame.
    rows = np.frombuffer(memoryview(plane), dtype=np.uint8).reshape(-1, plane.line_size)
    out = np.ascontiguousarray(rows[:height, :width])
    out.flags.writeable = False
    return out


def to_video_frame(frame: av.VideoFrame, pts_ns: int) -> VideoFrame:
    """A decoded picture as I420 planes, cropped to even dimensions (I420 cannot be odd)."""
    if frame.format.name != "yuv420p":
        frame = frame.reformat(format="yuv420p")
    w, h = frame.width & ~1, frame.height & ~1
    y = _plane(frame.planes[0], w, h)
    u = _plane(frame.planes[1], w // 2, h // 2)
    v = _plane(frame.planes[2], w // 2, h // 2)
    return VideoFrame(y=y, u=u, v=v, pts_ns=pts_ns)


def _pts_ns(frame: av.frame.Frame) -> int | None:
    if frame.pts is None or frame.time_base is None:
        return None
    return int(frame.pts * frame.time_base * _NS)


class AvStreamReader(SharedWorker):
    """The shared connection. ``acquire``/``release`` open and close it by reference count."""

    def __init__(
        self,
        name: str,
        resolver: TargetResolver,
        settings: StreamSettings,
        policy: ReconnectPolicy | None = None,
    ) -> None:
        self.name = name
        self.resolver = resolver
        self.settings = settings
        self.policy = policy or ReconnectPolicy()
        self._lock = threading.Lock()
        # The lifecycle lock is held across starting and joining the thread, so an open racing a
        # close cannot start a second reader on the same state.
        super().__init__(f"stream-{name}")
        self._latest: VideoFrame | None = None
        self._audio = AudioQueue(settings.sample_rate, settings.max_audio_buffer_s)
        self._video_meter = RateMeter()
        self._audio_meter = RateMeter()
        self._byte_meter = RateMeter()
        self._last_audio_ns: int | None = None
        self._connected = False
        self._connections = 0
        self._errors = 0
        self._detail = "not open"
        # Set when the camera delivers pictures but its sound, which the microphone needs, is missing.
        self._audio_problem = ""
        self._delivering_since: float | None = None
        self._url = ""
        self._display = ""
        self._clock_offset_s: float | None = None
        self._identity = ("", "", "")  # manufacturer, model, firmware
        self._video_clock = StreamClock()
        self._audio_clock = StreamClock()

    # -- lifecycle -----------------------------------------------------------------------------

    def _starting(self, stop: threading.Event) -> None:
        with self._lock:
            self._stop = stop
            self._detail = "connecting"

    def _stopped(self) -> None:
        # FFmpeg cannot be interrupted mid-call; the thread ended within the open or read timeout.
        with self._lock:
            self._connected = False
            self._detail = "not open"
            self._audio.clear()

    # -- consumers -----------------------------------------------------------------------------

    def latest_frame(self) -> VideoFrame | None:
        with self._lock:
            return self._latest

    def read_audio(self, max_chunks: int) -> list[AudioChunk]:
        with self._lock:
            return self._audio.take(max_chunks, time.monotonic_ns())

    def health(self, name: str, audio: bool) -> SourceHealth:
        now = time.monotonic_ns()
        with self._lock:
            connected = self._connected
            detail = self._detail
            dropped = self._audio.overruns if audio else 0
            dropped_recent = self._audio.recent_overruns(now) if audio else 0
            if audio:
                last = self._last_audio_ns
                rate = self._audio_meter.rate(now)
                if self._audio_problem and connected:
                    connected, detail = False, self._audio_problem
                if self._audio.overruns:
                    detail = (
                        f"{detail}; " if detail else ""
                    ) + f"{self._audio.overruns} chunks dropped: the recorder fell behind"
            else:
                last = self._latest.pts_ns if self._latest is not None else None
                rate = self._video_meter.rate(now)
            return SourceHealth(
                name=name,
                connected=connected,
                last_frame_age_s=(now - last) / _NS if last is not None else None,
                fps=rate,
                errors=self._errors + (self._audio.overruns if audio else 0),
                reconnects=max(0, self._connections - 1),
                detail=f"{self._display}: {detail}" if detail and self._display else detail,
                kind=self.resolver.kind,
                bitrate_kbps=self._byte_meter.amount_rate(now) * 8 / 1000,
                clock_offset_s=self._clock_offset_s,
                dropped=dropped,
                dropped_recent=dropped_recent,
                manufacturer=self._identity[0],
                model=self._identity[1],
                firmware=self._identity[2],
            )

    # -- the reader thread ---------------------------------------------------------------------

    def _set_state(self, connected: bool, detail: str) -> None:
        with self._lock:
            self._connected = connected
            self._detail = detail

    def _run(self, stop: threading.Event) -> None:
        failures = 0
        while not stop.is_set():
            self._delivering_since = None
            try:
                delivered = self._connect_and_read(stop)
                # A file came to its end: start over at once if it loops, otherwise stay put.
                # A live camera never ends by itself: that is a failure like any other.
                if not delivered:
                    raise ConnectionError("the stream ended before delivering anything")
                if self.settings.loop:
                    failures = 0
                    continue
                if self.settings.realtime:
                    self._set_state(False, "end of file")
                    stop.wait()
                    return
                raise ConnectionError("the stream ended")
            except _Stop:
                return
            except Exception as exc:
                if stop.is_set():
                    return
                since = self._delivering_since
                if since is not None and time.monotonic() - since >= self.policy.stable_s:
                    failures = 0
                failures += 1
                delay = self.policy.delay_s(failures)
                with self._lock:
                    reason = describe_stream_error(exc, self._url, self._display)
                    self._errors += 1
                    self._connected = False
                    self._detail = f"reconnecting in {delay:.1f} s after: {reason}"
                _log.warning(
                    "source %s (%s): %s; reconnecting in %.1f s", self.name, self._display or "?", reason, delay
                )
                stop.wait(delay)

    def _connect_and_read(self, stop: threading.Event) -> bool:
        target = self.resolver.resolve()
        if stop.is_set():
            raise _Stop
        with self._lock:
            self._url = target.url
            self._display = target.display
            self._clock_offset_s = target.clock_offset_s
            self._identity = (target.manufacturer, target.model, target.firmware)
        s = self.settings
        container = av.open(
            target.url,
            format=target.format,
            options=dict(target.options),
            timeout=(s.open_timeout_s, s.read_timeout_s),
        )
        try:
            return self._read(container, target, stop)
        finally:
            container.close()

    def _read(self, container: av.container.InputContainer, target: StreamTarget, stop: threading.Event) -> bool:
        """Demux and decode until the stream ends; True if anything was delivered."""
        s = self.settings
        video = container.streams.video[0] if s.want_video and container.streams.video else None
        audio = container.streams.audio[0] if s.want_audio and container.streams.audio else None
        if s.want_video and video is None:
            raise RuntimeError(f"{target.display} has no video stream")
        audio_problem = ""
        if s.want_audio and audio is None:
            if video is None:
                raise RuntimeError(f"{target.display} has no audio stream")
            # The camera's sound is off; its picture is still evidence, so keep delivering it.
            audio_problem = "the camera sends no sound (audio is off in the camera or its profile)"
        if video is not None:
            video.thread_type = "SLICE"  # frame threads would hold pictures back by several frames
        sound = _SoundStamper(s.sample_rate) if audio is not None else None
        # Each connection starts the streams' time afresh.
        self._video_clock.reset()
        self._audio_clock.reset()
        with self._lock:
            self._connections += 1
            self._audio_problem = audio_problem
        self._set_state(True, "")
        _log.info("source %s connected to %s", self.name, target.display)
        pace_origin: int | None = None
        pace_first_pts = 0
        latency_ns = s.latency_ms * 1_000_000
        frame_ns = int(_NS / float(video.average_rate)) if video is not None and video.average_rate else 0
        delivered = False
        wanted = [st for st in (video, audio) if st is not None]
        for packet in container.demux(*wanted):
            if stop.is_set():
                raise _Stop
            if packet.size:
                with self._lock:
                    self._byte_meter.tick(time.monotonic_ns(), packet.size)
            try:
                frames = packet.decode()
            except av.error.InvalidDataError as exc:
                # A damaged packet (lost UDP datagrams) spoils a frame, not the connection.
                with self._lock:
                    self._errors += 1
                _log.debug("source %s: undecodable packet: %s", self.name, exc)
                continue
            for frame in frames:
                if not isinstance(frame, (av.VideoFrame, av.AudioFrame)):
                    continue  # only picture and sound streams are demuxed
                pts = _pts_ns(frame)
                if s.realtime and pts is not None:
                    if pace_origin is None:
                        pace_origin, pace_first_pts = time.monotonic_ns(), pts
                    self._sleep_until(pace_origin + pts - pace_first_pts, stop)
                arrival = time.monotonic_ns()
                if not delivered:
                    delivered = True
                    self._delivering_since = time.monotonic()
                if isinstance(frame, av.VideoFrame):
                    stamp = self._video_clock.map(pts, arrival, frame_ns) - latency_ns
                    picture = to_video_frame(frame, min(stamp, arrival))
                    with self._lock:
                        self._latest = picture
                        self._video_meter.tick(arrival)
                elif sound is not None:
                    duration = frame.samples * _NS // frame.sample_rate if frame.sample_rate else 0
                    # A frame of sound arrives after its last sample: its first was captured a
                    # frame's duration earlier than that.
                    first = arrival - duration
                    stamp = min(self._audio_clock.map(pts, first, duration), first) - latency_ns
                    for chunk in sound.chunks(frame, stamp):
                        with self._lock:
                            self._audio.put(chunk, arrival)
                            self._last_audio_ns = arrival
                            self._audio_meter.tick(arrival)
        return delivered

    def _sleep_until(self, due_ns: int, stop: threading.Event) -> None:
        delay = (due_ns - time.monotonic_ns()) / _NS
        if delay > 0 and stop.wait(delay):
            raise _Stop


class _SoundStamper:
    """Resamples to the recording's format and stamps each output chunk where its sound began.

    The resampler holds back a few samples; an output chunk therefore starts that much before the
    input frame it came out with.
    """

    def __init__(self, sample_rate: int) -> None:
        self.rate = sample_rate
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=sample_rate)
        self._input_ns = 0  # duration of all sound fed in
        self._output_samples = 0

    def chunks(self, frame: av.AudioFrame, stamp_ns: int) -> list[AudioChunk]:
        # Where the output stands, in time, relative to the start of this input frame.
        held_back_ns = self._input_ns - self._output_samples * _NS // self.rate
        self._input_ns += frame.samples * _NS // frame.sample_rate
        pts = stamp_ns - held_back_ns
        out: list[AudioChunk] = []
        for resampled in self._resampler.resample(frame):
            samples = resampled.to_ndarray().reshape(-1).astype(np.int16, copy=False)
            if not len(samples):
                continue
            out.append(AudioChunk(samples=samples, sample_rate=self.rate, pts_ns=pts))
            pts += len(samples) * _NS // self.rate
            self._output_samples += len(samples)
        return out
