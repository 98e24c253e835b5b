"""Clips recorded with the real recorder engine from real photographs and speech, for the quality tests.

The engine runs on its free-running clock with sources that follow it, so a clip of 12 s is
rendered in a second or two, exactly 12 s long, with exactly the scripted content: which photo the
desk camera shows from when, when a camera stalls, when the microphone falls silent. Small pictures (640x360, an
inset of 240x192) and 10 frames a second keep it quick; key frames stay one second apart.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import cv2
import numpy as np

from branch_agent.recorder import (
    EncoderSettings,
    EngineResult,
    FreeRunningClock,
    OverlayRenderer,
    OverlayText,
    PipCompositor,
    PipLayout,
    RecordingEngine,
    sale_overlay,
)
from branch_agent.sources.synthetic_media import StillImageVideoSource, WavAudioSource
from storage.quality import GapFact, ManifestFacts, Marker, QualityPolicy, Region
from tests.storage.quality.real_media import photo

ENV, DESK, MIC = "env-cam", "desk-cam", "counter-mic"
ROLES = {ENV: "environment", DESK: "desk", MIC: "microphone"}
TZ = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class Recording:
    path: Path
    result: EngineResult
    layout: PipLayout
    policy: QualityPolicy  # the default policy with this layout's inset and text block

    def facts(self, markers: Sequence[tuple[str, float]] = (), state: str = "completed") -> ManifestFacts:
        """What the manifest of this clip would say, with ``markers`` as (name, seconds)."""
        return ManifestFacts.model_validate(
            {
                "state": state,
                "duration_s": self.result.duration_ms / 1000,
                "gaps": [
                    GapFact(source=g.source, start_s=g.start_ms / 1000, duration_s=g.duration_ms / 1000)
                    for g in self.result.gaps
                ],
                "markers": [Marker(name=n, at_s=t) for n, t in markers],
                "source_roles": ROLES,
            }
        )


class HoldingClock(FreeRunningClock):
    """The free-running clock up to ``limit_s``, where it holds the recorder until it is stopped.

    So a clip is exactly ``limit_s`` long however slowly the test gets round to stopping it. The
    first event the recorder waits on is its own stop event (its clock loop); waits on any other
    (the audio drain after stop) run free as before.
    """

    def __init__(self, limit_s: float) -> None:
        super().__init__()
        self._limit_ns = round(limit_s * 1e9)
        self._held: threading.Event | None = None

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        if self._held is None:
            self._held = stop
        if stop is self._held and self.monotonic_ns() + seconds * 1e9 > self._limit_ns:
            stop.wait()
            return True
        return super().wait(stop, seconds)


def small_layout() -> PipLayout:
    return PipLayout(output_width=640, output_height=360, inset_width=240, inset_height=192, margin=8, border_width=2)


def policy_for(layout: PipLayout, overlay: OverlayRenderer, text: OverlayText) -> QualityPolicy:
    """The default policy, told where this layout puts the inset and the burned-in text."""
    w, h = layout.output_width, layout.output_height
    x, y = layout.inset_origin()
    b = layout.border_width
    patch = overlay.render(text)
    return QualityPolicy(
        inset=Region.from_pixels(x, y, layout.inset_width, layout.inset_height, w, h),
        environment_excludes=(
            Region.from_pixels(x - b, y - b, layout.inset_width + 2 * b, layout.inset_height + 2 * b, w, h),
            Region.from_pixels(
                0, 0, min(w, patch.width + 2 * overlay.margin + 16), patch.height + 2 * overlay.margin, w, h
            ),
        ),
    )


def person_scene(width: int = 640, height: int = 360) -> np.ndarray:
    """A person (the astronaut's portrait) standing left of centre in front of a brick wall."""
    wall = cv2.resize(photo("brick.png"), (width, height), interpolation=cv2.INTER_LINEAR)
    side = height * 5 // 6
    person = cv2.resize(photo("astronaut.png"), (side, side), interpolation=cv2.INTER_AREA)
    x0, y0 = width // 8, height - side
    wall[y0 : y0 + side, x0 : x0 + side] = person
    return wall


def blank(value: int, width: int = 64, height: int = 48) -> np.ndarray:
    return np.full((height, width, 3), value, dtype=np.uint8)


def record(
    path: Path,
    seconds: float,
    font: Path,
    *,
    desk: Sequence[tuple[float, np.ndarray]],
    env: Sequence[tuple[float, np.ndarray]],
    sound: np.ndarray,
    desk_stalls: Sequence[tuple[float, float]] = (),
    env_stalls: Sequence[tuple[float, float]] = (),
    mic_dropouts: Sequence[tuple[float, float]] = (),
    fps: int = 10,
    layout: PipLayout | None = None,
    desk_size: tuple[int, int] = (360, 288),
) -> Recording:
    lay = layout or small_layout()
    clock = HoldingClock(seconds)
    sources = (
        StillImageVideoSource(ENV, env, lay.output_width, lay.output_height, fps, stalls=env_stalls, clock=clock),
        StillImageVideoSource(DESK, desk, *desk_size, fps, stalls=desk_stalls, clock=clock),
        WavAudioSource(MIC, sound, dropouts=mic_dropouts, clock=clock),
    )
    overlay = OverlayRenderer(font, max(12, lay.output_height // 30))
    text = sale_overlay("示范支行", "理财柜台 1", "1000001", "SN20261204001", TZ)
    for source in sources:
        source.open()
    engine = RecordingEngine(*sources, PipCompositor(lay), overlay, text, path, EncoderSettings(fps=fps), clock=clock)
    engine.start()
    frames = round(seconds * fps)
    while engine.status().video_frames < frames:
        time.sleep(0.002)
    result = engine.stop()
    for source in sources:
        source.close()
    sample = text(result.started_at_utc)
    return Recording(path=path, result=result, layout=lay, policy=policy_for(lay, overlay, sample))
