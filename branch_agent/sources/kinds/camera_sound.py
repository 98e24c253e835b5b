"""The microphone kind "camera": the sound of one of the counter's own cameras."""

from __future__ import annotations

from typing import Literal

from branch_agent.sources.base import AudioSource
from branch_agent.sources.kinds.spec import MicrophoneKind, MicrophoneRequest, MicrophoneSection, Role


class CameraMicrophoneSection(MicrophoneSection):
    kind: Literal["camera"]
    camera: Literal["environment", "desk"] = "environment"

    def camera_sound(self) -> Role:
        return Role(self.camera)


def _build(section: CameraMicrophoneSection, request: MicrophoneRequest) -> AudioSource:
    camera = request.cameras[section.camera_sound()]
    if camera.sound is None:
        # The configuration refuses a camera without sound; reaching this is a builder's mistake.
        raise ValueError(f"{request.what}: the {section.camera} camera was not built with its sound")
    # The camera's own connection carries the sound: one RTSP or GB/T 28181 session, not two.
    return camera.sound(request.name)


CAMERA_MICROPHONE = MicrophoneKind(CameraMicrophoneSection, build=_build)
