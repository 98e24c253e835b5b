"""Decodes PS access units into the pictures and sound the recorder takes from any source.

The conversion and stamping are the RTSP reader's (``av_stream``): pictures become I420
``VideoFrame``s through ``to_video_frame``, sound is resampled and stamped by its
``_SoundStamper``, and the stream's 90 kHz PTS are mapped onto the monotonic clock by a
``StreamClock`` per stream, so a GB/T 28181 camera lines up with the others exactly as an RTSP one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import av
import av.error

from branch_agent.gb28181.ps_demux import AccessUnit
from branch_agent.sources.av_stream import _SoundStamper, to_video_frame
from branch_agent.sources.base import AudioChunk, VideoFrame
from branch_agent.sources.stream_clock import StreamClock

_log = logging.getLogger(__name__)
_NS = 1_000_000_000
_CLOCK = 90_000
_WRAP = 1 << 33
# G.711 carries no header: GB/T 28181 fixes it at 8 kHz mono.
_G711_RATE = 8000


class _Unwrapper:
    """Makes 33-bit PTS monotonic across their 26.5-hour wrap."""

    def __init__(self) -> None:
        self._last: int | None = None
        self._offset = 0

    def __call__(self, pts: int | None) -> int | None:
        if pts is None:
            return None
        if self._last is not None:
            if pts - self._last < -_WRAP // 2:
                self._offset += _WRAP
            elif pts - self._last > _WRAP // 2:
                self._offset -= _WRAP  # a late unit from before the wrap
        self._last = pts
        return pts + self._offset


_Decoder = av.AudioCodecContext | av.VideoCodecContext


def _open_decoder(unit: AccessUnit) -> _Decoder:
    ctx = av.CodecContext.create(unit.codec, "r")
    if unit.kind == "video":
        if not isinstance(ctx, av.VideoCodecContext):
            raise TypeError(f"{unit.codec} is not a video codec, yet the demuxer found it in a video stream")
        ctx.thread_type = "SLICE"  # frame threads would hold pictures back
        return ctx
    if not isinstance(ctx, av.AudioCodecContext):
        raise TypeError(f"{unit.codec} is not an audio codec, yet the demuxer found it in an audio stream")
    if unit.codec in ("pcm_alaw", "pcm_mulaw"):
        ctx.sample_rate = _G711_RATE
        ctx.layout = "mono"
    return ctx


@dataclass
class Decoded:
    video: list[VideoFrame]
    audio: list[AudioChunk]
    errors: int = 0


class MediaDecoder:
    """Not thread-safe: the receiver thread owns it. One per connection to a device."""

    def __init__(
        self, sample_rate: int = 48000, latency_ms: int = 0, want_video: bool = True, want_audio: bool = False
    ) -> None:
        self.sample_rate = sample_rate
        self.want_video = want_video
        self.want_audio = want_audio
        self._latency_ns = latency_ms * 1_000_000
        self._contexts: dict[tuple[str, str], _Decoder] = {}
        self._unwrap = {"video": _Unwrapper(), "audio": _Unwrapper()}
        self._clocks = {"video": StreamClock(), "audio": StreamClock()}
        self._stamper: _SoundStamper | None = None
        self._frame_ns = 0
        self._last_video_pts: int | None = None
        self.video_codec: str | None = None
        self.audio_codec: str | None = None

    def reset(self) -> None:
        """A new connection: decoders and clocks start afresh (the device's stamps may too)."""
        self._contexts.clear()
        self._unwrap = {"video": _Unwrapper(), "audio": _Unwrapper()}
        for clock in self._clocks.values():
            clock.reset()
        self._last_video_pts = None

    def decode(self, unit: AccessUnit, arrival_ns: int) -> Decoded:
        out = Decoded([], [])
        if (unit.kind == "video" and not self.want_video) or (unit.kind == "audio" and not self.want_audio):
            return out
        ctx = self._context(unit)
        pts = self._unwrap[unit.kind](unit.pts)
        try:
            if unit.codec == "aac":
                # One PES may hold several ADTS frames; the parser splits them.
                packets = ctx.parse(unit.data)
            else:
                packets = [av.Packet(unit.data)]
            frames: list[av.frame.Frame] = []
            for i, packet in enumerate(packets):
                if i == 0:
                    packet.pts = pts
                frames.extend(ctx.decode(packet))
        except av.error.FFmpegError as exc:
            # A damaged unit spoils a picture, not the stream: the demuxer will wait for the
            # next key frame after a loss anyway.
            out.errors += 1
            _log.debug("undecodable %s unit: %s", unit.codec, exc)
            return out
        for frame in frames:
            if isinstance(frame, av.VideoFrame):
                out.video.append(self._picture(frame, arrival_ns))
            elif isinstance(frame, av.AudioFrame):
                out.audio.extend(self._sound(frame, arrival_ns))
        return out

    def _context(self, unit: AccessUnit) -> _Decoder:
        key = (unit.kind, unit.codec)
        ctx = self._contexts.get(key)
        if ctx is None:
            ctx = _open_decoder(unit)
            if unit.kind == "video":
                self.video_codec = unit.codec
            else:
                self.audio_codec = unit.codec
                self._stamper = _SoundStamper(self.sample_rate)
            # A codec change (the camera was reconfigured) replaces the old decoder.
            for other in [k for k in self._contexts if k[0] == unit.kind]:
                del self._contexts[other]
            self._contexts[key] = ctx
        return ctx

    def _picture(self, frame: av.VideoFrame, arrival_ns: int) -> VideoFrame:
        pts = frame.pts
        if pts is not None and self._last_video_pts is not None and 0 < pts - self._last_video_pts < _CLOCK:
            self._frame_ns = (pts - self._last_video_pts) * _NS // _CLOCK
        if pts is not None:
            self._last_video_pts = pts
        pts_ns = pts * _NS // _CLOCK if pts is not None else None
        stamp = self._clocks["video"].map(pts_ns, arrival_ns, self._frame_ns) - self._latency_ns
        return to_video_frame(frame, min(stamp, arrival_ns))

    def _sound(self, frame: av.AudioFrame, arrival_ns: int) -> list[AudioChunk]:
        assert self._stamper is not None
        rate = frame.sample_rate or _G711_RATE
        duration = frame.samples * _NS // rate
        # Sound arrives after its last sample: its first was captured a frame's duration earlier.
        first = arrival_ns - duration
        pts_ns = frame.pts * _NS // _CLOCK if frame.pts is not None else None
        stamp = min(self._clocks["audio"].map(pts_ns, first, duration), first) - self._latency_ns
        return self._stamper.chunks(frame, stamp)
