"""An ONVIF camera as a stream target: asked for its stream URI at every (re)connection."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from branch_agent.sources.onvif_endpoint import OnvifEndpoint
from branch_agent.sources.onvif_profiles import StreamChoice
from branch_agent.sources.stream_target import StreamTarget, rtsp_options
from branch_agent.sources.stream_urls import redact_url, stream_url_with_credentials

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OnvifStreamRequest:
    host: str
    port: int
    username: str
    password: str = field(repr=False)
    stream: StreamChoice = "main"
    transport: str = "tcp"
    timeout_s: float = 5.0
    open_timeout_s: float = 10.0


def on_configured_host(uri: str, host: str) -> str:
    """The stream URI pointed at the camera's configured address.

    Cameras behind NAT, or with a stale network setting, hand out an address of their own; and the
    credentials below must never go to a host other than the one the bank configured.
    """
    parts = urlsplit(uri)
    if parts.hostname == host.strip("[]"):
        return uri
    port = f":{parts.port}" if parts.port else ""
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    _log.info("ONVIF camera %s announced its stream at %s; using the configured address", host, redact_url(uri))
    return urlunsplit(parts._replace(netloc=f"{shown}{port}"))


class OnvifResolver:
    kind = "onvif"

    def __init__(self, request: OnvifStreamRequest) -> None:
        self.request = request

    def resolve(self) -> StreamTarget:
        # The SOAP client is loaded with the first ONVIF camera, not by every reader of the configuration.
        from branch_agent.sources.onvif_camera import resolve_stream

        r = self.request
        stream = resolve_stream(OnvifEndpoint(r.host, r.port, r.username, r.password, r.timeout_s), r.stream)
        uri = on_configured_host(stream.profile.stream_uri, r.host)
        offset = stream.clock_offset_s
        if abs(offset) >= 2:
            _log.warning("ONVIF camera %s:%d clock is %+.1f s off the host's", r.host, r.port, offset)
        return StreamTarget(
            url=stream_url_with_credentials(uri, r.username, r.password),
            display=f"onvif://{r.host}:{r.port} {stream.profile.name} {redact_url(uri)}",
            options=rtsp_options(r.transport, r.open_timeout_s),
            clock_offset_s=offset,
            manufacturer=stream.manufacturer,
            model=stream.model,
            firmware=stream.firmware,
        )
