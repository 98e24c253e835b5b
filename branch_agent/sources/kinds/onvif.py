"""The ONVIF environment camera: asked for its stream URI and clock at every (re)connection."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from branch_agent.sources.av_stream import StreamSettings
from branch_agent.sources.kinds.section_fields import NetworkCameraSection
from branch_agent.sources.kinds.spec import BuiltCamera, CameraKind, CameraRequest, Role
from branch_agent.sources.kinds.stream import OPEN_TIMEOUT_S, stream_camera
from branch_agent.sources.onvif_profiles import StreamChoice
from branch_agent.sources.onvif_stream import OnvifResolver, OnvifStreamRequest


class OnvifCameraSection(NetworkCameraSection):
    kind: Literal["onvif"]
    host: str = Field(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9.:\[\]-]+$")
    port: int = Field(default=80, ge=1, le=65535)
    stream: str = Field(
        default="main",
        pattern=r"^(main|sub|[0-9]{2,5}x[0-9]{2,5})$",
        description="main (largest), sub (smallest) or WIDTHxHEIGHT",
    )
    timeout_s: float = Field(default=5.0, gt=0, le=60)

    def stream_choice(self) -> StreamChoice:
        if self.stream == "main":
            return "main"
        if self.stream == "sub":
            return "sub"
        width, height = self.stream.split("x")  # the field's pattern leaves nothing else
        return int(width), int(height)


def _build(section: OnvifCameraSection, request: CameraRequest) -> BuiltCamera:
    stream_request = OnvifStreamRequest(
        section.host,
        section.port,
        section.username,
        section.password(request.what),
        section.stream_choice(),
        section.transport,
        section.timeout_s,
        OPEN_TIMEOUT_S,
    )
    settings = StreamSettings(latency_ms=section.latency_ms, open_timeout_s=OPEN_TIMEOUT_S)
    return stream_camera(OnvifResolver(stream_request), settings, request)


ONVIF_CAMERA = CameraKind(OnvifCameraSection, frozenset({Role.ENVIRONMENT}), carries_sound=True, build=_build)
