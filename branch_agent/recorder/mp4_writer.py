"""H.264 + AAC into fragmented MP4 that survives a crash or power cut.

A plain MP4 is unplayable until its ``moov`` index is written at the end, so a crash would lose
the whole sale. Fragmented MP4 writes an empty ``moov`` up front and then self-describing
``moof``+``mdat`` pairs, one per GOP (about one second). The muxer's output goes through
``_DurableFile``: everything the muxer emits for one packet is written with a single ``os.write``
and fsync'd, so the file on disk always ends at (or just after) a complete fragment.
"""

from __future__ import annotations

import collections
import logging
import os
import queue
import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EncoderSettings:
    preset: str = "veryfast"
    bitrate: int = 4_000_000
    gop_seconds: float = 1.0
    fps: int = 25
    threads: int = 0  # 0: two x264 frame threads per core, see frame_threads
    b_frames: int = 0
    audio_bitrate: int = 128_000
    sample_rate: int = 48_000

    def __post_init__(self) -> None:
        if self.fps <= 0 or self.bitrate <= 0 or self.audio_bitrate <= 0 or self.sample_rate <= 0:
            raise ValueError("fps, bitrates and sample rate must be positive")
        if self.gop_seconds <= 0 or self.threads < 0 or self.b_frames < 0:
            raise ValueError("gop_seconds must be positive; threads and b_frames non-negative")

    @property
    def frame_threads(self) -> int:
        # More frame threads than cores keeps the cores busy while threads wait on each other's
        # reference rows; on 2 cores, 4 threads encode ~10% faster than x264's own 1.5 per core.
        if self.threads:
            return self.threads
        return min(16, 2 * (os.cpu_count() or 1))

    @property
    def gop_frames(self) -> int:
        return max(1, round(self.gop_seconds * self.fps))


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _DurableFile:
    """Write-only file object for PyAV that makes each muxer burst durable on ``commit``.

    Writes are collected in memory and committed after each muxer call; since fragmented MP4
    only emits bytes when a fragment is complete, a commit is one fragment: one write, one fsync.
    """

    def __init__(self, path: Path) -> None:
        # O_EXCL: an evidence file must never silently replace another one.
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # evidence: the agent's alone
        # Fsyncing data is not enough after a power cut if the new name itself was never synced.
        try:
            _fsync_directory(path.parent)
        except BaseException:
            os.close(self._fd)
            path.unlink()
            raise
        self._pending = bytearray()
        self._pos = 0  # logical position, including pending bytes
        self.fsyncs = 0

    def write(self, data: bytes) -> int:
        self._pending += data
        self._pos += len(data)
        return len(data)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        self.commit(sync=False)
        self._pos = os.lseek(self._fd, offset, whence)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def seekable(self) -> bool:
        return True

    def flush(self) -> None:
        self.commit(sync=False)

    def commit(self, sync: bool = True) -> None:
        if self._pending:
            with memoryview(self._pending) as whole:
                done = 0
                while done < len(whole):
                    done += os.write(self._fd, whole[done:])
            self._pending.clear()
            if sync:
                os.fsync(self._fd)
                self.fsyncs += 1

    def close(self) -> None:
        if self._fd < 0:
            return
        try:
            self.commit(sync=True)
            os.fsync(self._fd)
        finally:
            os.close(self._fd)
            self._fd = -1


@dataclass(frozen=True)
class EncoderFrame:
    """A picture in the encoder's buffer and writable views of its Y, U and V planes."""

    frame: av.VideoFrame
    y: np.ndarray
    u: np.ndarray
    v: np.ndarray


class FragmentedMp4Writer:
    """One evidence file: ``write_video``/``write_audio`` in timestamp units, then ``close``.

    Video pts counts frames at ``settings.fps``; audio pts counts samples and must be contiguous
    (the recorder fills silence and trims overlap before calling). Creating the writer creates the
    file and refuses to overwrite an existing one.
    """

    def __init__(self, path: str | Path, settings: EncoderSettings, width: int, height: int):
        if width % 2 or height % 2:
            raise ValueError(f"H.264 4:2:0 needs even dimensions, got {width}x{height}")
        self.path = Path(path)
        self.settings = settings
        self.width = width
        self.height = height
        self.video_frames = 0
        self.audio_samples = 0
        self._audio_next_pts: int | None = None
        self._audio_buffer = np.empty(0, dtype=np.int16)
        # Appended by the encoding thread, popped by the composing one; deque ops are atomic.
        self._free_pictures: collections.deque[EncoderFrame] = collections.deque()
        self._closed = False
        self._file = _DurableFile(self.path)
        try:
            self._container = av.open(
                self._file,
                mode="w",
                format="mp4",
                container_options={
                    "movflags": "frag_keyframe+empty_moov+default_base_moof",
                    # Hand every packet's bytes to _DurableFile at once rather than holding them in
                    # avio's buffer, so a commit covers all that the muxer has produced.
                    "flush_packets": "1",
                },
            )
            self._video = self._add_video_stream()
            self._audio = self._add_audio_stream()
        except BaseException:
            # Nothing was written yet; leave no empty "evidence" file behind.
            self._file.close()
            self.path.unlink()
            raise

    def _add_video_stream(self) -> av.VideoStream:
        s = self.settings
        stream = self._container.add_stream("libx264", rate=s.fps)
        stream.width = self.width
        stream.height = self.height
        stream.pix_fmt = "yuv420p"
        stream.bit_rate = s.bitrate
        ctx = stream.codec_context
        ctx.time_base = Fraction(1, s.fps)
        ctx.gop_size = s.gop_frames
        ctx.max_b_frames = s.b_frames
        ctx.thread_count = s.frame_threads
        # Frame threads keep both cores busy; PyAV's default (slice threads) leaves a third idle.
        # The price is a few frames of encoder delay, well inside the one-fragment loss budget.
        ctx.thread_type = "FRAME"
        gop = s.gop_frames
        # Fixed GOPs (no scene-cut keyframes) give fixed ~gop_seconds fragments: a bounded loss
        # on power cut and predictable seek points for replay.
        ctx.options = {
            "preset": s.preset,
            "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0",
        }
        return stream

    def _add_audio_stream(self) -> av.AudioStream:
        s = self.settings
        stream = self._container.add_stream("aac", rate=s.sample_rate, layout="mono")
        stream.bit_rate = s.audio_bitrate
        stream.codec_context.time_base = Fraction(1, s.sample_rate)
        return stream

    def write_video(self, y: np.ndarray, u: np.ndarray, v: np.ndarray, pts_frames: int) -> None:
        self.encode_picture(self.copy_into_picture(y, u, v, pts_frames))

    def new_video_frame(self, pts_frames: int) -> EncoderFrame:
        """A picture in an encoder buffer, to be filled in place and then passed to
        ``encode_picture``. Buffers are recycled: a fresh 3 MB buffer per frame costs more in page
        faults than composing the picture does."""
        try:
            picture = self._free_pictures.pop()
        except IndexError:
            picture = self._allocate_picture()
        picture.frame.pts = pts_frames
        return picture

    def _allocate_picture(self) -> EncoderFrame:
        frame = av.VideoFrame(self.width, self.height, "yuv420p")
        frame.time_base = Fraction(1, self.settings.fps)
        # Planes may be padded to line_size; the views cover the visible part only.
        y, u, v = (
            np.frombuffer(memoryview(plane), dtype=np.uint8).reshape(plane.height, plane.line_size)[:, : plane.width]
            for plane in frame.planes
        )
        return EncoderFrame(frame=frame, y=y, u=u, v=v)

    def copy_into_picture(self, y: np.ndarray, u: np.ndarray, v: np.ndarray, pts_frames: int) -> EncoderFrame:
        """Copy planes into an encoder picture, so the caller may reuse its buffers at once."""
        if y.shape != (self.height, self.width):
            raise ValueError(f"luma plane {y.shape} does not match {self.width}x{self.height}")
        target = self.new_video_frame(pts_frames)
        for src, dst in zip((y, u, v), (target.y, target.u, target.v)):
            np.copyto(dst, src)
        return target

    def encode_picture(self, picture: EncoderFrame) -> None:
        """Encode a picture from ``new_video_frame``; its buffer is reused afterwards."""
        self._check_open()
        # x264 copies the picture in before encode() returns, so the buffer is free again.
        self._mux(self._video.encode(picture.frame))
        self._free_pictures.append(picture)
        self.video_frames += 1

    def write_audio(self, samples: np.ndarray, pts_samples: int) -> None:
        self._check_open()
        if samples.ndim != 1 or samples.dtype != np.int16:
            raise ValueError(f"audio must be 1-D int16 mono, got {samples.dtype} {samples.shape}")
        if self._audio_next_pts is None:
            self._audio_next_pts = pts_samples
        elif pts_samples != self._audio_next_pts:
            raise ValueError(f"audio must be contiguous: expected pts {self._audio_next_pts}, got {pts_samples}")
        self._audio_next_pts = pts_samples + len(samples)
        self.audio_samples += len(samples)
        self._audio_buffer = np.concatenate((self._audio_buffer, samples))
        self._encode_audio(final=False)

    def _encode_audio(self, final: bool) -> None:
        # AAC takes fixed 1024-sample frames; feed exactly that so pts stay sample-exact.
        size = self._audio.codec_context.frame_size or 1024
        buffered = self._audio_buffer
        usable = len(buffered) if final else len(buffered) // size * size
        first_pts = self._audio_next_pts - len(buffered) if self._audio_next_pts is not None else 0
        for offset in range(0, usable, size):
            block = buffered[offset : offset + size]
            data = (block.astype(np.float32) / 32768.0).reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(data, format="fltp", layout="mono")
            frame.sample_rate = self.settings.sample_rate
            frame.pts = first_pts + offset
            frame.time_base = Fraction(1, self.settings.sample_rate)
            self._mux(self._audio.encode(frame))
        self._audio_buffer = buffered[usable:]

    def _mux(self, packets: list[av.Packet]) -> None:
        for packet in packets:
            self._container.mux(packet)
        # A fragment is complete exactly when the muxer produced bytes; make them durable now.
        self._file.commit(sync=True)

    def close(self) -> None:
        """Drain both encoders, write the trailer and fsync. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            self._encode_audio(final=True)
            self._mux(self._video.encode(None))
            self._mux(self._audio.encode(None))
            self._container.close()
        finally:
            self._file.close()

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"writer for {self.path} is closed")


class ThreadedMp4Writer:
    """``FragmentedMp4Writer`` with encoding and fsync on a thread of its own.

    x264 releases the GIL while it encodes, so the caller can compose the next picture meanwhile,
    and a slow fsync never holds up the caller's clock. At most ``max_pending_frames`` pictures
    wait; beyond that ``write_video`` blocks, which is the back-pressure the recorder turns into
    skipped ticks. An encoder error is raised from the next ``write_*`` call or from ``close``.
    """

    def __init__(
        self,
        path: str | Path,
        settings: EncoderSettings,
        width: int,
        height: int,
        max_pending_frames: int = 8,
    ) -> None:
        self._writer = FragmentedMp4Writer(path, settings, width, height)
        self.path = self._writer.path
        self.settings = settings
        self.width = width
        self.height = height
        self.video_frames = 0
        self.audio_samples = 0
        # Audio items are small and come 1-2 per picture, so they share the bound generously.
        self._queue: queue.Queue[tuple[str, object, int] | None] = queue.Queue(maxsize=max(1, max_pending_frames) * 4)
        self._error: BaseException | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="mp4-encoder", daemon=True)
        self._thread.start()

    def write_video(self, y: np.ndarray, u: np.ndarray, v: np.ndarray, pts_frames: int) -> None:
        self.submit_video(self._writer.copy_into_picture(y, u, v, pts_frames))

    def new_video_frame(self, pts_frames: int) -> EncoderFrame:
        return self._writer.new_video_frame(pts_frames)

    def submit_video(self, picture: EncoderFrame) -> None:
        """Queue a picture made by ``new_video_frame``; the caller must not touch it afterwards."""
        pts = picture.frame.pts
        if pts is None:
            raise ValueError("a picture without a pts: make it with new_video_frame")
        self._submit(("video", picture, pts))
        self.video_frames += 1

    def write_audio(self, samples: np.ndarray, pts_samples: int) -> None:
        self._submit(("audio", samples, pts_samples))
        self.audio_samples += len(samples)

    def close(self) -> None:
        """Encode what is queued, close the file; raise if encoding failed. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._thread.join()
        try:
            self._writer.close()
        finally:
            if self._error is not None:
                raise RuntimeError(f"encoding {self.path} failed: {self._error!r}") from self._error

    def _submit(self, item: tuple[str, object, int]) -> None:
        if self._closed:
            raise RuntimeError(f"writer for {self.path} is closed")
        if self._error is not None:
            raise RuntimeError(f"encoding {self.path} failed: {self._error!r}") from self._error
        self._queue.put(item)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self._error is not None:
                continue  # keep draining so producers never block on a dead consumer
            kind, payload, pts = item
            try:
                if kind == "video":
                    assert isinstance(payload, EncoderFrame)
                    self._writer.encode_picture(payload)
                else:
                    assert isinstance(payload, np.ndarray)
                    self._writer.write_audio(payload, pts)
            except BaseException as exc:
                self._error = exc
                _log.exception("encoder thread for %s failed", self.path)
