"""An ONVIF device's video profiles, and the choice of the one to record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from branch_agent.sources.onvif_endpoint import OnvifNoProfile

# Encodings the recorder can take as the background or face camera.
RECORDABLE_ENCODINGS = frozenset({"H264", "H265", "HEVC"})

# "main" (the largest picture), "sub" (the smallest) or (width, height).
StreamChoice = Literal["main", "sub"] | tuple[int, int]


@dataclass(frozen=True)
class OnvifProfile:
    token: str
    name: str
    encoding: str
    width: int
    height: int
    fps: float | None
    stream_uri: str
    snapshot_uri: str | None

    def describe(self) -> str:
        rate = f"@{self.fps:g}" if self.fps else ""
        return f"{self.name or self.token} ({self.token}) {self.encoding} {self.width}x{self.height}{rate}"


def _normalised_encoding(encoding: str) -> str:
    return encoding.upper().replace(".", "").replace("-", "")


def pick_profile(profiles: list[OnvifProfile], want: StreamChoice, *, device: str = "") -> OnvifProfile:
    """main: the largest H.264/H.265 picture; sub: the smallest; (w, h): that size exactly, else the
    smallest that is at least as wide and as high. `device` (host:port) only names it in errors."""
    video = [p for p in profiles if _normalised_encoding(p.encoding) in RECORDABLE_ENCODINGS]
    by_size = sorted(video, key=lambda p: (p.width * p.height, p.fps or 0.0))
    chosen: OnvifProfile | None
    if want == "main" or want == "sub":
        chosen = (by_size[-1] if want == "main" else by_size[0]) if by_size else None
        wanted = f"{want} stream"
    elif isinstance(want, tuple) and len(want) == 2 and all(isinstance(v, int) and v > 0 for v in want):
        width, height = want
        exact = [p for p in by_size if (p.width, p.height) == (width, height)]
        big_enough = [p for p in by_size if p.width >= width and p.height >= height]
        candidates = exact or big_enough
        chosen = candidates[0] if candidates else None
        wanted = f"profile of at least {width}x{height}"
    else:
        raise ValueError(f"want must be 'main', 'sub' or (width, height), got {want!r}")
    if chosen is not None:
        return chosen
    has = "; ".join(p.describe() for p in profiles) or "no video profiles"
    subject = f"ONVIF device {device}" if device else "The ONVIF device"
    raise OnvifNoProfile(f"{subject} has no H.264/H.265 {wanted}; it has: {has}")
