"""Where an ONVIF device is, and the ways talking to it can fail.

Passwords never appear in a log line, an exception message or a repr.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class OnvifError(Exception):
    """Talking to an ONVIF device failed; the message names the device as host:port."""


class OnvifAuthError(OnvifError):
    """The device refused the username/password (or needs credentials and none are configured)."""


class OnvifUnreachable(OnvifError):
    """No ONVIF device service answers at the address: refused, timed out, unknown host, not ONVIF."""


class OnvifFault(OnvifError):
    """The device answered an operation with a SOAP fault other than an authentication refusal."""


class OnvifNoProfile(OnvifError):
    """No media profile of the device matches what was asked for; the message lists what it has."""


@dataclass(frozen=True)
class OnvifEndpoint:
    host: str
    port: int = 80
    username: str = ""
    password: str = field(default="", repr=False)
    timeout_s: float = 5.0

    def __post_init__(self) -> None:
        if not self.host.strip():
            raise ValueError("ONVIF endpoint host must not be empty")
        if not 1 <= self.port <= 65535:
            raise ValueError(f"ONVIF endpoint port must be 1..65535, got {self.port}")
        if not self.timeout_s > 0:
            raise ValueError(f"ONVIF endpoint timeout must be > 0 s, got {self.timeout_s}")

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host and not self.host.startswith("[") else self.host
        return f"{host}:{self.port}"

    @property
    def device_service_url(self) -> str:
        return f"http://{self.address}/onvif/device_service"
