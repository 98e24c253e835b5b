"""The recorder: PiP composition, burned-in text, and crash-safe fragmented MP4 output."""

from branch_agent.recorder.clock import Clock, FreeRunningClock, MonotonicClock
from branch_agent.recorder.compositor import PipCompositor, PipLayout
from branch_agent.recorder.engine import (
    EngineResult,
    EngineStatus,
    EngineTiming,
    RecordingEngine,
    RecordingFailed,
)
from branch_agent.recorder.gaps import AudioAligner, Gap, VideoGapTracker
from branch_agent.recorder.mp4_writer import (
    EncoderFrame,
    EncoderSettings,
    FragmentedMp4Writer,
    ThreadedMp4Writer,
)
from branch_agent.recorder.overlay import (
    OverlayPatch,
    OverlayRenderer,
    OverlayText,
    sale_overlay,
)

__all__ = [
    "AudioAligner",
    "Clock",
    "EncoderFrame",
    "EncoderSettings",
    "EngineResult",
    "EngineStatus",
    "EngineTiming",
    "FragmentedMp4Writer",
    "FreeRunningClock",
    "Gap",
    "MonotonicClock",
    "OverlayPatch",
    "OverlayRenderer",
    "OverlayText",
    "PipCompositor",
    "PipLayout",
    "RecordingEngine",
    "RecordingFailed",
    "ThreadedMp4Writer",
    "VideoGapTracker",
    "sale_overlay",
]
