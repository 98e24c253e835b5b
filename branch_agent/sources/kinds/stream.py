"""Kinds FFmpeg opens from a fixed address: RTSP cameras, video files, V4L2 webcams, ALSA microphones."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from branch_agent.sources.av_stream import AvStreamReader, StreamSettings
from branch_agent.sources.base import AudioSource
from branch_agent.sources.kinds.section_fields import NetworkCameraSection
from branch_agent.sources.kinds.spec import (
    CAMERA_ROLES,
    BuiltCamera,
    CameraKind,
    CameraRequest,
    CameraSection,
    MicrophoneKind,
    MicrophoneRequest,
    MicrophoneSection,
    Role,
)
from branch_agent.sources.shared_feed import FeedAudioSource, FeedVideoSource
from branch_agent.sources.stream_target import FixedTarget, StreamTarget, TargetResolver, rtsp_options
from branch_agent.sources.stream_urls import redact_url, stream_url_with_credentials
from storage.config_file import ConfigPath

OPEN_TIMEOUT_S = 10.0


class RtspCameraSection(NetworkCameraSection):
    kind: Literal["rtsp"]
    url: str = Field(pattern=r"^rtsps?://[^/\s]+")

    @field_validator("url")
    @classmethod
    def _no_password_in_url(cls, v: str) -> str:
        from urllib.parse import urlsplit

        if urlsplit(v).password is not None:
            raise ValueError("the URL carries a password; put it in the variable named by password_env")
        return v


class FileCameraSection(CameraSection):
    kind: Literal["file"]
    path: ConfigPath
    loop: bool = True

    @field_validator("path")
    @classmethod
    def _exists(cls, v: Path) -> Path:
        if not v.is_file():
            raise ValueError(f"no such file: {v}")
        return v


class V4l2CameraSection(CameraSection):
    kind: Literal["v4l2"]
    device: Path = Path("/dev/video0")
    width: int = Field(default=1280, ge=16, le=7680)
    height: int = Field(default=720, ge=16, le=4320)
    fps: int = Field(default=25, ge=1, le=60)
    input_format: Literal["", "mjpeg", "yuyv422", "h264"] = Field(default="", description="empty: the device's default")


class AlsaMicrophoneSection(MicrophoneSection):
    kind: Literal["alsa"]
    device: str = Field(default="default", min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_:,.=-]+$")
    channels: int = Field(default=1, ge=1, le=8, description="captured channels, mixed down to mono")
    latency_ms: int = Field(default=0, ge=0, le=400)


def stream_camera(resolver: TargetResolver, settings: StreamSettings, request: CameraRequest) -> BuiltCamera:
    """A camera read by FFmpeg; its sound, when wanted, comes over the same connection."""
    if request.want_sound:
        settings = replace(settings, want_audio=True)
    reader = AvStreamReader(request.name, resolver, settings)
    video = FeedVideoSource(request.name, reader)
    if not request.want_sound:
        return BuiltCamera(video)
    return BuiltCamera(video, sound=lambda name: FeedAudioSource(name, reader))


def _build_rtsp(section: RtspCameraSection, request: CameraRequest) -> BuiltCamera:
    url = section.url
    if section.username:
        url = stream_url_with_credentials(url, section.username, section.password(request.what))
    target = StreamTarget(url=url, display=redact_url(url), options=rtsp_options(section.transport, OPEN_TIMEOUT_S))
    settings = StreamSettings(latency_ms=section.latency_ms, open_timeout_s=OPEN_TIMEOUT_S)
    return stream_camera(FixedTarget(section.kind, target), settings, request)


def _build_file(section: FileCameraSection, request: CameraRequest) -> BuiltCamera:
    target = StreamTarget(url=str(section.path), display=str(section.path))
    return stream_camera(FixedTarget(section.kind, target), StreamSettings(realtime=True, loop=section.loop), request)


def _build_v4l2(section: V4l2CameraSection, request: CameraRequest) -> BuiltCamera:
    options = {"video_size": f"{section.width}x{section.height}", "framerate": str(section.fps)}
    if section.input_format:
        options["input_format"] = section.input_format
    target = StreamTarget(url=str(section.device), display=str(section.device), format="v4l2", options=options)
    return stream_camera(FixedTarget(section.kind, target), StreamSettings(), request)


def _build_alsa(section: AlsaMicrophoneSection, request: MicrophoneRequest) -> AudioSource:
    target = StreamTarget(
        url=section.device,
        display=f"alsa:{section.device}",
        format="alsa",
        options={"sample_rate": "48000", "channels": str(section.channels)},
    )
    settings = StreamSettings(want_video=False, want_audio=True, latency_ms=section.latency_ms)
    return FeedAudioSource(request.name, AvStreamReader(request.name, FixedTarget(section.kind, target), settings))


RTSP_CAMERA = CameraKind(RtspCameraSection, frozenset(CAMERA_ROLES), carries_sound=True, build=_build_rtsp)
FILE_CAMERA = CameraKind(FileCameraSection, frozenset(CAMERA_ROLES), carries_sound=True, build=_build_file)
V4L2_CAMERA = CameraKind(V4l2CameraSection, frozenset({Role.DESK}), carries_sound=False, build=_build_v4l2)
ALSA_MICROPHONE = MicrophoneKind(AlsaMicrophoneSection, build=_build_alsa)
