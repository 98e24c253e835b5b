"""Builds a counter's camera and microphone sources from configuration; they stay open between clips."""

from __future__ import annotations

from dataclasses import dataclass

from branch_agent.config import AudioSourceSection, BranchConfig, CounterSection, VideoSourceSection
from branch_agent.sources import AudioSource, SourceHealth, VideoSource
from branch_agent.sources.synthetic import SyntheticVideoSource, ToneAudioSource


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


def _video(name: str, cfg: VideoSourceSection, luma: int, chroma: tuple[int, int], font: str) -> VideoSource:
    # Only synthetic sources exist so far; the config schema refuses any other kind with a clear message.
    return SyntheticVideoSource(name, cfg.width, cfg.height, cfg.fps, cfg.label or name, luma=luma, chroma=chroma, font_path=font)


def _audio(name: str, cfg: AudioSourceSection) -> AudioSource:
    return ToneAudioSource(name, frequency_hz=cfg.frequency_hz)


def build_sources(config: BranchConfig, counter: CounterSection) -> CounterSources:
    font = str(config.branch.font_path)
    return CounterSources(
        environment=_video(f"{counter.code}-environment", counter.environment, 90, (110, 140), font),
        desk=_video(f"{counter.code}-desk", counter.desk, 170, (140, 110), font),
        microphone=_audio(f"{counter.code}-microphone", counter.microphone),
    )
