"""What every source kind declares: its configuration section, the roles it can serve, whether it
carries sound, and how it is built for a counter."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar, get_args

from storage.config_file import StrictSection

if TYPE_CHECKING:
    from branch_agent.gb28181.service import GbPlatformRunner
    from branch_agent.sources.base import AudioSource, VideoSource


class Role(StrEnum):
    ENVIRONMENT = "environment"
    DESK = "desk"
    MICROPHONE = "microphone"


CAMERA_ROLES = (Role.ENVIRONMENT, Role.DESK)


class KindSection(StrictSection):
    """One source's configuration; each kind narrows ``kind`` to a one-value Literal, its name."""

    kind: str


class CameraSection(KindSection):
    """An environment or desk camera's configuration."""


class MicrophoneSection(KindSection):
    def camera_sound(self) -> Role | None:
        """The camera whose own sound this microphone is, if it is one."""
        return None


def kind_name(section: type[KindSection]) -> str:
    """The kind a section is for: the one value of its ``kind`` Literal."""
    values = get_args(section.model_fields["kind"].annotation)
    if len(values) != 1 or not isinstance(values[0], str):
        raise TypeError(f"{section.__name__}.kind must be a Literal of one string, the kind's name")
    return values[0]


@dataclass(frozen=True)
class GbPlatformAccess:
    """The agent's GB/T 28181 platform, and the address its media sessions are received on."""

    runner: GbPlatformRunner
    bind_host: str


class CounterSite(Protocol):
    """What the sources of one counter share; provided by whoever builds them."""

    @property
    def font_path(self) -> str: ...

    def gb_platform(self) -> GbPlatformAccess: ...


@dataclass(frozen=True)
class CameraRequest:
    role: Role
    name: str  # the source's name in logs and health, e.g. "C01-environment"
    what: str  # the camera in error messages, e.g. "the environment camera of counter C01"
    # The counter's microphone is this camera's sound: it must come over the same connection.
    want_sound: bool
    site: CounterSite


@dataclass(frozen=True)
class BuiltCamera:
    video: VideoSource
    # The camera's sound as a source named by the argument; only when it was asked for, because
    # a connection that also receives sound costs the camera and the network more.
    sound: Callable[[str], AudioSource] | None = None


@dataclass(frozen=True)
class MicrophoneRequest:
    name: str
    what: str
    cameras: Mapping[Role, BuiltCamera]


C = TypeVar("C", bound=CameraSection)
M = TypeVar("M", bound=MicrophoneSection)


@dataclass(frozen=True)
class CameraKind(Generic[C]):
    section: type[C]
    roles: frozenset[Role]
    # A microphone of kind "camera" can take this kind's sound.
    carries_sound: bool
    build: Callable[[C, CameraRequest], BuiltCamera]

    def __post_init__(self) -> None:
        kind_name(self.section)
        if not self.roles or not self.roles <= set(CAMERA_ROLES):
            raise ValueError(f"camera kind {self.name!r}: roles must be among {[r.value for r in CAMERA_ROLES]}")

    @property
    def name(self) -> str:
        return kind_name(self.section)


@dataclass(frozen=True)
class MicrophoneKind(Generic[M]):
    section: type[M]
    build: Callable[[M, MicrophoneRequest], AudioSource]

    def __post_init__(self) -> None:
        kind_name(self.section)

    @property
    def name(self) -> str:
        return kind_name(self.section)

    @property
    def roles(self) -> frozenset[Role]:
        return frozenset({Role.MICROPHONE})

    @property
    def carries_sound(self) -> bool:
        return True
