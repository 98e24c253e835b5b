"""An ONVIF camera as a stream target: asked for its stream URI at every (re)connection."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from branch_agent.sources.stream_target import StreamTarget, rtsp_options
from branch_agent.sources.stream_urls import redact_url, stream_url_with_credentials

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OnvifStreamRequest:
    host: str
    port: int
    username: str
    password: str
    # "main" (largest picture), "sub" (smallest) or (width, height).
    stream: str | tuple[int, int]
    transport: str = "tcp"
    timeout_s: float = 5.0
    open_timeout_s: float = 10.0


class OnvifResolver:
    kind = "onvif"

    def __init__(self, request: OnvifStreamRequest) -> None:
        self.request = request

    def resolve(self) -> StreamTarget:
        from branch_agent.sources.onvif_camera import OnvifEndpoint, pick_profile, query_device

        r = self.request
        device = query_device(OnvifEndpoint(r.host, r.port, r.username, r.password, r.timeout_s))
        profile = pick_profile(device.profiles, r.stream, device=f"{r.host}:{r.port}")
        url = stream_url_with_credentials(profile.stream_uri, r.username, r.password)
        if abs(device.clock_offset_s) >= 2:
            _log.warning("ONVIF camera %s:%d clock is %+.1f s off the host's", r.host, r.port, device.clock_offset_s)
        return StreamTarget(
            url=url,
            display=f"onvif://{r.host}:{r.port} {profile.name} {redact_url(profile.stream_uri)}",
            options=rtsp_options(r.transport, r.open_timeout_s),
            clock_offset_s=device.clock_offset_s,
        )
