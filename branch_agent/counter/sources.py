"""Builds a counter's camera and microphone sources from configuration; they stay open between clips.

How each kind is built is the source registry's (``branch_agent.sources.registry``); this module
only supplies what a counter's sources share and wires a camera's sound to the microphone.
"""

from __future__ import annotations

from dataclasses import dataclass

from branch_agent.config import BranchConfig, CounterSection, Gb28181Section
from branch_agent.gb28181.service import GbPlatformRunner
from branch_agent.sources import AudioSource, SourceHealth, VideoSource
from branch_agent.sources.kinds.spec import CAMERA_ROLES, CameraRequest, GbPlatformAccess, MicrophoneRequest, Role
from branch_agent.sources.registry import build_camera, build_microphone
from storage.config_file import ConfigError


@dataclass
class CounterSources:
    environment: VideoSource
    desk: VideoSource
    microphone: AudioSource

    def open(self) -> None:
        for s in (self.environment, self.desk, self.microphone):
            s.open()

    def close(self) -> None:
        for s in (self.environment, self.desk, self.microphone):
            s.close()

    def health(self) -> list[SourceHealth]:
        return [s.health() for s in (self.environment, self.desk, self.microphone)]


def gb_platform_runner(config: BranchConfig) -> GbPlatformRunner | None:
    """The agent's one GB/T 28181 platform, if configured (ConfigError if a password is not set)."""
    return None if config.gb28181 is None else _platform_runner(config.gb28181)


def _platform_runner(section: Gb28181Section) -> GbPlatformRunner:
    return GbPlatformRunner(section.platform_config(), section.announce_host or None, section.query_catalog)


class _CounterSite:
    """What the sources of one counter share (a ``CounterSite``)."""

    def __init__(self, config: BranchConfig, gb_platform: GbPlatformRunner | None) -> None:
        self.config = config
        self._gb_platform = gb_platform

    @property
    def font_path(self) -> str:
        return str(self.config.branch.font_path)

    def gb_platform(self) -> GbPlatformAccess:
        section = self.config.gb28181
        if section is None:
            raise ConfigError("a gb28181 camera needs the [gb28181] section")  # the configuration demands it
        if self._gb_platform is None:
            # Only when a counter is built on its own (tests, tools); the agent shares one platform.
            self._gb_platform = _platform_runner(section)
        return GbPlatformAccess(self._gb_platform, section.host)


def build_sources(
    config: BranchConfig, counter: CounterSection, gb_platform: GbPlatformRunner | None = None
) -> CounterSources:
    """``gb_platform``: the agent's shared GB/T 28181 platform (see ``gb_platform_runner``); when
    None and the counter has a GB/T 28181 camera, the counter gets a platform of its own."""
    site = _CounterSite(config, gb_platform)
    sound_of = counter.microphone.camera_sound()
    cameras = {
        role: build_camera(
            counter.camera(role),
            CameraRequest(
                role=role,
                name=f"{counter.code}-{role}",
                what=f"the {role} camera of counter {counter.code}",
                want_sound=role == sound_of,
                site=site,
            ),
        )
        for role in CAMERA_ROLES
    }
    microphone = build_microphone(
        counter.microphone,
        MicrophoneRequest(
            name=f"{counter.code}-{Role.MICROPHONE}",
            what=f"the microphone of counter {counter.code}",
            cameras=cameras,
        ),
    )
    return CounterSources(cameras[Role.ENVIRONMENT].video, cameras[Role.DESK].video, microphone)
