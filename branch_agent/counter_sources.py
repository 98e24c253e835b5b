"""Builds a counter's camera and microphone sources from configuration; they stay open between clips."""

from __future__ import annotations

from dataclasses import dataclass, replace

from branch_agent.config import (
    AlsaMicrophoneSection,
    BranchConfig,
    CameraMicrophoneSection,
    CounterSection,
    FileCameraSection,
    OnvifCameraSection,
    RtspCameraSection,
    SyntheticCameraSection,
    ToneMicrophoneSection,
    V4l2CameraSection,
    VideoSourceSection,
)
from branch_agent.sources import AudioSource, SourceHealth, VideoSource
from branch_agent.sources.av_stream import AvStreamReader, StreamAudioSource, StreamSettings, StreamVideoSource
from branch_agent.sources.onvif_stream import OnvifResolver, OnvifStreamRequest
from branch_agent.sources.stream_target import FixedTarget, StreamTarget, TargetResolver, rtsp_options
from branch_agent.sources.stream_urls import redact_url, stream_url_with_credentials
from branch_agent.sources.synthetic import SyntheticVideoSource, ToneAudioSource

# Telling the two synthetic pictures apart in a composite: darker bluish background, brighter inset.
_SYNTHETIC_LOOKS = {"environment": (90, (110, 140)), "desk": (170, (140, 110))}
_OPEN_TIMEOUT_S = 10.0


@dataclass
class CounterSources:
    environment: VideoSource
    desk: VideoSource
    microphone: AudioSource

    def open(self) -> None:
        for s in (self.environment, self.desk, self.microphone):
            s.open()

    def close(self) -> None:
        for s in (self.environment, self.desk, self.microphone):
            s.close()

    def health(self) -> list[SourceHealth]:
        return [s.health() for s in (self.environment, self.desk, self.microphone)]


def _resolver(what: str, cfg: VideoSourceSection) -> tuple[TargetResolver, StreamSettings]:
    """Where a stream camera is and how to read it; ``what`` names it in error messages."""
    if isinstance(cfg, RtspCameraSection):
        url = stream_url_with_credentials(cfg.url, cfg.username, cfg.password(what)) if cfg.username else cfg.url
        target = StreamTarget(url=url, display=redact_url(url), options=rtsp_options(cfg.transport, _OPEN_TIMEOUT_S))
        return FixedTarget("rtsp", target), StreamSettings(latency_ms=cfg.latency_ms, open_timeout_s=_OPEN_TIMEOUT_S)
    if isinstance(cfg, OnvifCameraSection):
        stream: str | tuple[int, int] = cfg.stream
        if "x" in cfg.stream:
            w, h = cfg.stream.split("x")
            stream = (int(w), int(h))
        request = OnvifStreamRequest(cfg.host, cfg.port, cfg.username, cfg.password(what), stream,
                                     cfg.transport, cfg.timeout_s, _OPEN_TIMEOUT_S)
        return OnvifResolver(request), StreamSettings(latency_ms=cfg.latency_ms, open_timeout_s=_OPEN_TIMEOUT_S)
    if isinstance(cfg, FileCameraSection):
        target = StreamTarget(url=str(cfg.path), display=str(cfg.path))
        return FixedTarget("file", target), StreamSettings(realtime=True, loop=cfg.loop)
    if isinstance(cfg, V4l2CameraSection):
        options = {"video_size": f"{cfg.width}x{cfg.height}", "framerate": str(cfg.fps)}
        if cfg.input_format:
            options["input_format"] = cfg.input_format
        target = StreamTarget(url=str(cfg.device), display=str(cfg.device), format="v4l2", options=options)
        return FixedTarget("v4l2", target), StreamSettings()
    raise TypeError(f"{what}: {cfg.kind} is not a stream camera")


class _SourceFactory:
    def __init__(self, config: BranchConfig, counter: CounterSection) -> None:
        self.config = config
        self.counter = counter
        self.readers: dict[str, AvStreamReader] = {}

    def name(self, role: str) -> str:
        return f"{self.counter.code}-{role}"

    def video(self, role: str, cfg: VideoSourceSection) -> VideoSource:
        if isinstance(cfg, SyntheticCameraSection):
            luma, chroma = _SYNTHETIC_LOOKS[role]
            return SyntheticVideoSource(self.name(role), cfg.width, cfg.height, cfg.fps, cfg.label or self.name(role),
                                        luma=luma, chroma=chroma, font_path=str(self.config.branch.font_path))
        resolver, settings = _resolver(f"the {role} camera of counter {self.counter.code}", cfg)
        wants_sound = isinstance(self.counter.microphone, CameraMicrophoneSection) and self.counter.microphone.camera == role
        if wants_sound:
            settings = replace(settings, want_audio=True)
        reader = AvStreamReader(self.name(role), resolver, settings)
        self.readers[role] = reader
        return StreamVideoSource(self.name(role), reader)

    def audio(self) -> AudioSource:
        cfg = self.counter.microphone
        name = self.name("microphone")
        if isinstance(cfg, ToneMicrophoneSection):
            return ToneAudioSource(name, frequency_hz=cfg.frequency_hz)
        if isinstance(cfg, CameraMicrophoneSection):
            # The camera's own connection carries the sound: one RTSP session, not two.
            return StreamAudioSource(name, self.readers[cfg.camera])
        if isinstance(cfg, AlsaMicrophoneSection):
            target = StreamTarget(url=cfg.device, display=f"alsa:{cfg.device}", format="alsa",
                                  options={"sample_rate": "48000", "channels": str(cfg.channels)})
            settings = StreamSettings(want_video=False, want_audio=True, latency_ms=cfg.latency_ms)
            return StreamAudioSource(name, AvStreamReader(name, FixedTarget("alsa", target), settings))
        raise TypeError(f"microphone of counter {self.counter.code}: unknown kind {cfg.kind}")


def build_sources(config: BranchConfig, counter: CounterSection) -> CounterSources:
    factory = _SourceFactory(config, counter)
    environment = factory.video("environment", counter.environment)
    desk = factory.video("desk", counter.desk)
    return CounterSources(environment=environment, desk=desk, microphone=factory.audio())
