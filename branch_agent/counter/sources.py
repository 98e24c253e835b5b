"""Builds a counter's camera and microphone sources from configuration; they stay open between clips."""

from __future__ import annotations

from dataclasses import dataclass, replace

from branch_agent.config import (
    AlsaMicrophoneSection,
    BranchConfig,
    CameraMicrophoneSection,
    CounterSection,
    FileCameraSection,
    Gb28181CameraSection,
    OnvifCameraSection,
    RtspCameraSection,
    SyntheticCameraSection,
    ToneMicrophoneSection,
    V4l2CameraSection,
    VideoSourceSection,
)
from branch_agent.gb28181.sdp import MediaTransport
from branch_agent.gb28181.service import GbPlatformRunner
from branch_agent.sources import AudioSource, SourceHealth, VideoSource
from branch_agent.sources.av_stream import AvStreamReader, StreamSettings
from branch_agent.sources.gb_camera import GbCamera, GbCameraSettings
from branch_agent.sources.onvif_stream import OnvifResolver, OnvifStreamRequest
from branch_agent.sources.shared_feed import FeedAudioSource, FeedVideoSource
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
        request = OnvifStreamRequest(
            cfg.host, cfg.port, cfg.username, cfg.password(what), stream, cfg.transport, cfg.timeout_s, _OPEN_TIMEOUT_S
        )
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


def gb_platform_runner(config: BranchConfig) -> GbPlatformRunner | None:
    """The agent's one GB/T 28181 platform, if configured (ConfigError if a password is not set)."""
    if config.gb28181 is None:
        return None
    section = config.gb28181
    return GbPlatformRunner(section.platform_config(), section.announce_host or None, section.query_catalog)


class _SourceFactory:
    def __init__(self, config: BranchConfig, counter: CounterSection, gb_platform: GbPlatformRunner | None) -> None:
        self.config = config
        self.counter = counter
        self.gb_platform = gb_platform
        self.readers: dict[str, AvStreamReader] = {}
        self.gb_cameras: dict[str, GbCamera] = {}

    def name(self, role: str) -> str:
        return f"{self.counter.code}-{role}"

    def video(self, role: str, cfg: VideoSourceSection) -> VideoSource:
        if isinstance(cfg, SyntheticCameraSection):
            luma, chroma = _SYNTHETIC_LOOKS[role]
            return SyntheticVideoSource(
                self.name(role),
                cfg.width,
                cfg.height,
                cfg.fps,
                cfg.label or self.name(role),
                luma=luma,
                chroma=chroma,
                font_path=str(self.config.branch.font_path),
            )
        wants_sound = (
            isinstance(self.counter.microphone, CameraMicrophoneSection) and self.counter.microphone.camera == role
        )
        if isinstance(cfg, Gb28181CameraSection):
            return self.gb_camera(role, cfg, wants_sound)
        resolver, settings = _resolver(f"the {role} camera of counter {self.counter.code}", cfg)
        if wants_sound:
            settings = replace(settings, want_audio=True)
        reader = AvStreamReader(self.name(role), resolver, settings)
        self.readers[role] = reader
        return FeedVideoSource(self.name(role), reader)

    def gb_camera(self, role: str, cfg: Gb28181CameraSection, wants_sound: bool) -> VideoSource:
        if self.gb_platform is None:
            # Only when a counter is built on its own (tests, tools); the agent shares one platform.
            self.gb_platform = gb_platform_runner(self.config)
        assert self.gb_platform is not None  # the config validator demands [gb28181] for such a camera
        assert self.config.gb28181 is not None
        settings = GbCameraSettings(
            device_id=cfg.device_id,
            channel_id=cfg.channel_id,
            transport=MediaTransport(cfg.media_transport),
            media_port=cfg.media_port,
            bind_host=self.config.gb28181.host,
            want_audio=wants_sound,
            latency_ms=cfg.latency_ms,
            media_timeout_s=cfg.media_timeout_s,
        )
        camera = GbCamera(self.name(role), self.gb_platform, settings)
        self.gb_cameras[role] = camera
        return camera.video(self.name(role))

    def audio(self) -> AudioSource:
        cfg = self.counter.microphone
        name = self.name("microphone")
        if isinstance(cfg, ToneMicrophoneSection):
            return ToneAudioSource(name, frequency_hz=cfg.frequency_hz)
        if isinstance(cfg, CameraMicrophoneSection):
            # The camera's own connection carries the sound: one RTSP or GB/T 28181 session, not two.
            if cfg.camera in self.gb_cameras:
                return self.gb_cameras[cfg.camera].audio(name)
            return FeedAudioSource(name, self.readers[cfg.camera])
        if isinstance(cfg, AlsaMicrophoneSection):
            target = StreamTarget(
                url=cfg.device,
                display=f"alsa:{cfg.device}",
                format="alsa",
                options={"sample_rate": "48000", "channels": str(cfg.channels)},
            )
            settings = StreamSettings(want_video=False, want_audio=True, latency_ms=cfg.latency_ms)
            return FeedAudioSource(name, AvStreamReader(name, FixedTarget("alsa", target), settings))
        raise TypeError(f"microphone of counter {self.counter.code}: unknown kind {cfg.kind}")


def build_sources(
    config: BranchConfig, counter: CounterSection, gb_platform: GbPlatformRunner | None = None
) -> CounterSources:
    """``gb_platform``: the agent's shared GB/T 28181 platform (see ``gb_platform_runner``); when
    None and the counter has a GB/T 28181 camera, the counter gets a platform of its own."""
    factory = _SourceFactory(config, counter, gb_platform)
    environment = factory.video("environment", counter.environment)
    desk = factory.video("desk", counter.desk)
    return CounterSources(environment=environment, desk=desk, microphone=factory.audio())
