"""Camera and microphone sources: decoded data stamped on the agent's monotonic clock."""

from branch_agent.sources.base import (
    AudioChunk,
    AudioSource,
    SourceHealth,
    SourceUnavailable,
    VideoFrame,
    VideoSource,
)
from branch_agent.sources.capture_clock import CaptureClock
from branch_agent.sources.synthetic import SyntheticVideoSource, ToneAudioSource

__all__ = [
    "AudioChunk",
    "AudioSource",
    "CaptureClock",
    "SourceHealth",
    "SourceUnavailable",
    "SyntheticVideoSource",
    "ToneAudioSource",
    "VideoFrame",
    "VideoSource",
]
