"""Reading only what the check needs from a clip: one luma picture per sample, and the sound.

The recorder starts a fragment, with a key frame, every second, so at 1 sample a second only key
frames are decoded: each stands alone, and the decoder skips the other 24 of every 25 frames
without decoding them. Only the luma plane is used (no colour conversion). Sound is decoded as it
comes and handed on in pieces, so a 30-minute clip is never held in memory whole. One decoder
thread each: the check must leave the machine's cores to the recorder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import av.audio.frame
import av.video.frame
import numpy as np

VideoSink = Callable[[float, np.ndarray], None]
AudioSink = Callable[[float, np.ndarray, int, np.ndarray], None]


@dataclass(frozen=True)
class StreamSpan:
    start_s: float | None = None
    end_s: float | None = None

    @property
    def duration_s(self) -> float | None:
        if self.start_s is None or self.end_s is None:
            return None
        return max(0.0, self.end_s - self.start_s)


@dataclass
class ReadResult:
    width: int = 0
    height: int = 0
    video: StreamSpan = StreamSpan()
    audio: StreamSpan = StreamSpan()
    error: str | None = None  # a clip cut off by a crash ends in a broken fragment: read up to it


def luma_plane(frame: av.video.frame.VideoFrame) -> np.ndarray:
    """The Y plane as a (height, width) uint8 view, without conversion for the usual YUV formats."""
    if frame.format.name in ("yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12"):
        plane = frame.planes[0]
        rows = np.frombuffer(memoryview(plane), dtype=np.uint8).reshape(plane.height, plane.line_size)
        return rows[:, : frame.width]
    return frame.to_ndarray(format="gray")


def _mono_float(frame: av.audio.frame.AudioFrame) -> np.ndarray:
    """The frame's sound as float32 in -1..1, channels averaged (AAC decodes to planar float already)."""
    data = frame.to_ndarray()
    kind = frame.format.name[:3]
    if kind == "s16":
        data = data / 32768.0
    elif kind == "s32":
        data = data / 2147483648.0
    elif kind == "u8":
        data = (data - 128.0) / 128.0
    data = data.astype(np.float32, copy=False)
    if frame.format.is_planar:
        return data.mean(axis=0) if data.shape[0] > 1 else data[0]
    channels = len(frame.layout.channels)
    return data.reshape(-1, channels).mean(axis=1) if channels > 1 else data.reshape(-1)


class _Resampler:
    """Sound to 16 kHz mono float for voice activity, piece by piece."""

    def __init__(self) -> None:
        self._r = av.AudioResampler(format="flt", layout="mono", rate=16000)

    def __call__(self, frame: av.audio.frame.AudioFrame | None) -> np.ndarray:
        out = [f.to_ndarray().reshape(-1) for f in self._r.resample(frame)]
        return np.concatenate(out).astype(np.float32, copy=False) if out else np.zeros(0, np.float32)


def read_clip(path: str | Path, sample_interval_s: float, on_picture: VideoSink, on_sound: AudioSink) -> ReadResult:
    """Decode ``path`` once: ``on_picture(t, luma)`` about every ``sample_interval_s`` seconds of
    picture (the luma array is only valid during the call), ``on_sound(t, mono, rate, mono_16k)``
    for each piece of sound: ``mono`` at the clip's own ``rate``, ``mono_16k`` resampled to 16 kHz."""
    result = ReadResult()
    try:
        opened = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        result.error = f"{type(exc).__name__}: {exc}"
        return result
    with opened as container:
        video = container.streams.video[0] if container.streams.video else None
        audio = container.streams.audio[0] if container.streams.audio else None
        # The recorder's key frames are one second apart: below that, every frame must be decoded.
        key_only = sample_interval_s >= 1.0
        if video is not None:
            video.codec_context.thread_count = 1
            video.codec_context.thread_type = "NONE"
            if key_only:
                video.codec_context.skip_frame = "NONKEY"
        if audio is not None:
            audio.codec_context.thread_count = 1
        resample = _Resampler()
        frame_s = 1.0 / float(video.average_rate) if video is not None and video.average_rate else 0.04
        spans: dict[str, list[float]] = {}
        next_due: float | None = None
        try:
            for packet in container.demux([s for s in (video, audio) if s is not None]):
                kind = packet.stream.type
                if packet.pts is not None and packet.time_base is not None:
                    start = float(packet.pts * packet.time_base)
                    end = start + float((packet.duration or 0) * packet.time_base)
                    span = spans.setdefault(kind, [start, end])
                    span[0], span[1] = min(span[0], start), max(span[1], end)
                    if kind == "video" and key_only and not packet.is_keyframe:
                        continue
                    if kind == "video" and key_only and next_due is not None and start < next_due - frame_s / 2:
                        continue
                for frame in packet.decode():  # a packet without a time flushes its decoder
                    if isinstance(frame, av.video.frame.VideoFrame) and frame.time is not None:
                        t = float(frame.time)
                        if next_due is not None and t < next_due - frame_s / 2:
                            continue
                        result.width, result.height = frame.width, frame.height
                        on_picture(t, luma_plane(frame))
                        next_due = max((next_due if next_due is not None else t) + sample_interval_s, t + frame_s / 2)
                    elif isinstance(frame, av.audio.frame.AudioFrame) and frame.time is not None:
                        on_sound(float(frame.time), _mono_float(frame), frame.sample_rate, resample(frame))
        except (av.error.FFmpegError, OSError) as exc:
            result.error = f"{type(exc).__name__}: {exc}"
        tail = resample(None)
        if len(tail) and "audio" in spans:
            on_sound(spans["audio"][1], np.zeros(0, np.float32), 16000, tail)
        if "video" in spans:
            result.video = StreamSpan(*spans["video"])
        if "audio" in spans:
            result.audio = StreamSpan(*spans["audio"])
    return result
