"""Every kind of camera and microphone a counter can have, in one list.

The configuration's choice of kinds per role and the counter's construction of its sources are
derived from ``KINDS``: a new kind is one module under ``kinds/`` and one line here.
"""

from __future__ import annotations

import functools
import operator
from typing import Annotated, Any

from pydantic import Field, GetPydanticSchema

from branch_agent.sources.base import AudioSource
from branch_agent.sources.kinds.camera_sound import CAMERA_MICROPHONE
from branch_agent.sources.kinds.gb28181 import GB28181_CAMERA
from branch_agent.sources.kinds.onvif import ONVIF_CAMERA
from branch_agent.sources.kinds.spec import (
    BuiltCamera,
    CameraKind,
    CameraRequest,
    CameraSection,
    KindSection,
    MicrophoneKind,
    MicrophoneRequest,
    MicrophoneSection,
    Role,
)
from branch_agent.sources.kinds.stream import ALSA_MICROPHONE, FILE_CAMERA, RTSP_CAMERA, V4L2_CAMERA
from branch_agent.sources.kinds.synthetic import SYNTHETIC_CAMERA, TONE_MICROPHONE

SourceKind = CameraKind[Any] | MicrophoneKind[Any]

# In this order the configuration lists the kinds it expects when it meets one it does not know.
KINDS: tuple[SourceKind, ...] = (
    SYNTHETIC_CAMERA,
    ONVIF_CAMERA,
    V4L2_CAMERA,
    RTSP_CAMERA,
    FILE_CAMERA,
    GB28181_CAMERA,
    TONE_MICROPHONE,
    ALSA_MICROPHONE,
    CAMERA_MICROPHONE,
)


def _one_name_per_role(kinds: tuple[SourceKind, ...]) -> tuple[SourceKind, ...]:
    # The configuration tells a role's kinds apart by name alone.
    for role in Role:
        names = [kind.name for kind in kinds if role in kind.roles]
        if len(set(names)) != len(names):
            raise ValueError(f"two {role} kinds share a name: {sorted(names)}")
    return kinds


_BY_SECTION = {kind.section: kind for kind in _one_name_per_role(KINDS)}


def kinds_for(role: Role) -> tuple[SourceKind, ...]:
    return tuple(kind for kind in KINDS if role in kind.roles)


def kind_of(section: KindSection) -> SourceKind:
    try:
        return _BY_SECTION[type(section)]
    except KeyError:
        raise TypeError(f"{type(section).__name__} is not the section of a registered source kind") from None


def camera_kind_of(section: CameraSection) -> CameraKind[Any]:
    kind = kind_of(section)
    if not isinstance(kind, CameraKind):
        raise TypeError(f"{kind.name!r} is a microphone kind, not a camera kind")
    return kind


def microphone_kind_of(section: MicrophoneSection) -> MicrophoneKind[Any]:
    kind = kind_of(section)
    if not isinstance(kind, MicrophoneKind):
        raise TypeError(f"{kind.name!r} is a camera kind, not a microphone kind")
    return kind


def sound_camera_kinds(role: Role) -> list[str]:
    """The camera kinds that can serve ``role`` and give the counter their sound."""
    return [kind.name for kind in kinds_for(role) if isinstance(kind, CameraKind) and kind.carries_sound]


def section_schema(role: Role) -> GetPydanticSchema:
    """Validation of a role's section: the section of one of the kinds that serve it, picked by
    ``kind``. A tagged union names an unknown kind together with the ones expected, and puts the
    kind in the path of a wrong key (``counters.0.desk.v4l2.label``)."""
    sections = [kind.section for kind in kinds_for(role)]
    if not sections:
        raise ValueError(f"no source kind serves the {role} role")
    choice: Any = functools.reduce(operator.or_, sections)
    if len(sections) > 1:
        choice = Annotated[choice, Field(discriminator="kind")]
    return GetPydanticSchema(lambda _source, handler: handler.generate_schema(choice))


def build_camera(section: CameraSection, request: CameraRequest) -> BuiltCamera:
    kind = camera_kind_of(section)
    if request.role not in kind.roles:
        raise ValueError(f"{request.what}: a {kind.name} camera cannot be the {request.role} camera")
    if request.want_sound and not kind.carries_sound:
        raise ValueError(f"{request.what}: a {kind.name} camera has no sound to give")
    return kind.build(section, request)


def build_microphone(section: MicrophoneSection, request: MicrophoneRequest) -> AudioSource:
    return microphone_kind_of(section).build(section, request)
