"""The GB/T 28181 environment camera: it registers to the agent's platform, which INVITEs its channel."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from branch_agent.gb28181.sdp import MediaTransport
from branch_agent.sources.gb_camera import GbCamera, GbCameraSettings
from branch_agent.sources.kinds.section_fields import gb_id
from branch_agent.sources.kinds.spec import BuiltCamera, CameraKind, CameraRequest, CameraSection, Role


class Gb28181CameraSection(CameraSection):
    """A camera that registers to the agent's GB/T 28181 platform; the agent INVITEs its channel."""

    kind: Literal["gb28181"]
    device_id: str
    channel_id: str = Field(description="the channel to play; an IP camera's is often its device ID")
    media_transport: Literal["udp", "tcp_passive", "tcp_active"] = "udp"
    media_port: int = Field(default=0, ge=0, le=65535, description="0: a free port per session")
    latency_ms: int = Field(default=0, ge=0, le=400)
    # Without a packet for this long the session is hung up and the channel INVITEd again.
    media_timeout_s: float = Field(default=10.0, ge=2, le=300)

    @field_validator("device_id")
    @classmethod
    def _device_id(cls, v: str) -> str:
        return gb_id(v, "device ID")

    @field_validator("channel_id")
    @classmethod
    def _channel_id(cls, v: str) -> str:
        return gb_id(v, "channel ID")


def _build(section: Gb28181CameraSection, request: CameraRequest) -> BuiltCamera:
    platform = request.site.gb_platform()
    settings = GbCameraSettings(
        device_id=section.device_id,
        channel_id=section.channel_id,
        transport=MediaTransport(section.media_transport),
        media_port=section.media_port,
        bind_host=platform.bind_host,
        want_audio=request.want_sound,
        latency_ms=section.latency_ms,
        media_timeout_s=section.media_timeout_s,
    )
    camera = GbCamera(request.name, platform.runner, settings)
    # One play session carries the picture and, when wanted, the sound.
    return BuiltCamera(camera.video(request.name), sound=camera.audio if request.want_sound else None)


GB28181_CAMERA = CameraKind(Gb28181CameraSection, frozenset({Role.ENVIRONMENT}), carries_sound=True, build=_build)
