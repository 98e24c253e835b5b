"""Where FFmpeg opens a camera or microphone, and how long to wait before trying again.

A target is resolved afresh at every (re)connection: an ONVIF camera is asked for its stream URI
each time, because a camera that rebooted may hand out a different one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import av.error


@dataclass(frozen=True)
class StreamTarget:
    """What ``av.open`` gets. ``display`` is the same place without secrets, for logs and the UI."""

    url: str = field(repr=False)
    display: str
    format: str | None = None
    options: dict[str, str] = field(default_factory=dict)
    # Camera clock minus host clock, when the camera tells its time.
    clock_offset_s: float | None = None
    # The device's identity, where it tells it (ONVIF GetDeviceInformation): shown in the device view.
    manufacturer: str = ""
    model: str = ""
    firmware: str = ""


class TargetResolver(Protocol):
    """Produces the target to connect to; raising an exception counts as a failed attempt."""

    @property
    def kind(self) -> str:
        """The camera kind, as shown in its health."""

    def resolve(self) -> StreamTarget: ...


@dataclass(frozen=True)
class FixedTarget:
    """A target known from configuration: an RTSP URL, a file, a device."""

    kind: str
    target: StreamTarget

    def resolve(self) -> StreamTarget:
        return self.target


@dataclass(frozen=True)
class ReconnectPolicy:
    """Capped exponential backoff: a dead camera is retried often at first, then every ``max_s``."""

    initial_s: float = 0.5
    max_s: float = 30.0
    factor: float = 2.0
    # A connection that delivered for this long counts as healthy: the next failure starts over.
    stable_s: float = 10.0

    def __post_init__(self) -> None:
        if not 0 < self.initial_s <= self.max_s:
            raise ValueError(f"need 0 < initial_s <= max_s, got {self.initial_s} and {self.max_s}")
        if self.factor < 1:
            raise ValueError(f"factor must be at least 1, got {self.factor}")

    def delay_s(self, failures: int) -> float:
        """Wait before attempt number ``failures + 1`` after ``failures`` failures in a row."""
        if failures <= 0:
            return 0.0
        return min(self.max_s, self.initial_s * self.factor ** (failures - 1))


def rtsp_options(transport: str, open_timeout_s: float) -> dict[str, str]:
    """FFmpeg options for a live RTSP camera that should open fast and not buffer."""
    if transport not in ("tcp", "udp"):
        raise ValueError(f"RTSP transport must be 'tcp' or 'udp', got {transport!r}")
    return {
        "rtsp_transport": transport,
        # Codec parameters come with the SDP; a short probe opens a stream in well under a second.
        "probesize": "262144",
        "analyzeduration": "500000",
        # Socket I/O timeout in microseconds, so a camera that answers nothing is noticed.
        "timeout": str(int(open_timeout_s * 1_000_000)),
        # Room to put reordered UDP packets back in order before they are given up.
        "max_delay": "500000",
        "fflags": "nobuffer",
    }


def describe_stream_error(exc: BaseException, secret_url: str, display: str) -> str:
    """The failure in one line, with the stream's address shown without its password."""
    if isinstance(exc, av.error.FFmpegError) and exc.strerror:
        # FFmpeg appends the URL it opened, password included; the caller shows ``display`` instead.
        text = exc.strerror
    else:
        text = str(exc) or type(exc).__name__
    if secret_url and secret_url != display:
        text = text.replace(secret_url, display)
    return text if len(text) <= 300 else text[:297] + "..."
