"""Synthetic kinds, for demos and tests: a moving test picture and a sine tone."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from branch_agent.sources.base import AudioSource
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
from branch_agent.sources.synthetic import SyntheticVideoSource, ToneAudioSource

# Telling the two synthetic pictures apart in a composite: darker bluish background, brighter inset.
_LOOKS = {Role.ENVIRONMENT: (90, (110, 140)), Role.DESK: (170, (140, 110))}


class SyntheticCameraSection(CameraSection):
    kind: Literal["synthetic"]
    width: int = Field(default=1920, ge=16, le=7680)
    height: int = Field(default=1080, ge=16, le=4320)
    fps: int = Field(default=25, ge=1, le=60)
    label: str = ""


class ToneMicrophoneSection(MicrophoneSection):
    kind: Literal["tone"]
    frequency_hz: float = Field(default=1000.0, gt=0, lt=20000)


def _build_camera(section: SyntheticCameraSection, request: CameraRequest) -> BuiltCamera:
    luma, chroma = _LOOKS[request.role]
    video = SyntheticVideoSource(
        request.name,
        section.width,
        section.height,
        section.fps,
        section.label or request.name,
        luma=luma,
        chroma=chroma,
        font_path=request.site.font_path,
    )
    return BuiltCamera(video)


def _build_tone(section: ToneMicrophoneSection, request: MicrophoneRequest) -> AudioSource:
    return ToneAudioSource(request.name, frequency_hz=section.frequency_hz)


SYNTHETIC_CAMERA = CameraKind(SyntheticCameraSection, frozenset(CAMERA_ROLES), carries_sound=False, build=_build_camera)
TONE_MICROPHONE = MicrophoneKind(ToneMicrophoneSection, build=_build_tone)
