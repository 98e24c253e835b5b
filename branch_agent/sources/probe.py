"""What a stream carries, for installers: codec, picture size, frame rate and sound."""

from __future__ import annotations

import time
from dataclasses import dataclass

import av

from branch_agent.sources.stream_target import StreamTarget


@dataclass(frozen=True)
class VideoTrack:
    codec: str
    width: int
    height: int
    fps: float | None
    pixel_format: str | None


@dataclass(frozen=True)
class AudioTrack:
    codec: str
    sample_rate: int
    channels: int


@dataclass(frozen=True)
class StreamProbe:
    display: str
    open_s: float
    first_picture_s: float | None
    video: list[VideoTrack]
    audio: list[AudioTrack]
    # Frames decoded over the probe, per second: what the camera really delivers.
    measured_fps: float | None


def probe_stream(target: StreamTarget, seconds: float = 2.0, timeout_s: float = 10.0) -> StreamProbe:
    """Open ``target``, decode its pictures for ``seconds`` and report what it carries.

    Raises the FFmpeg error (av.error.*) when it cannot be opened, so the caller can say why.
    """
    started = time.monotonic()
    with av.open(
        target.url, format=target.format, options=dict(target.options), timeout=(timeout_s, timeout_s)
    ) as container:
        opened = time.monotonic()
        video = [
            VideoTrack(
                s.codec_context.name,
                s.codec_context.width,
                s.codec_context.height,
                float(s.average_rate) if s.average_rate else None,
                s.codec_context.format.name if s.codec_context.format else None,
            )
            for s in container.streams.video
        ]
        audio = [
            AudioTrack(s.codec_context.name, s.codec_context.sample_rate, s.codec_context.channels)
            for s in container.streams.audio
        ]
        first: float | None = None
        frames = 0
        if container.streams.video:
            deadline = opened + seconds
            for _frame in container.decode(container.streams.video[0]):
                now = time.monotonic()
                if first is None:
                    first = now
                frames += 1
                if now >= deadline:
                    break
        span = (time.monotonic() - first) if first is not None else 0.0
    return StreamProbe(
        display=target.display,
        open_s=opened - started,
        first_picture_s=(first - started) if first is not None else None,
        video=video,
        audio=audio,
        measured_fps=(frames - 1) / span if frames > 1 and span > 0 else None,
    )
