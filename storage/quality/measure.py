"""One pass over a clip, keeping per sample and per second what the checks need, and nothing else."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from storage.quality.media import StreamSpan, read_clip
from storage.quality.policy import QualityPolicy
from storage.quality.sound import SoundMeter, SoundSeconds
from storage.quality.vision import DlibFaceDetector, FaceDetector, PictureStats, RegionView, resize_to_width


def time_share(flags: Sequence[bool], spans: Sequence[tuple[float, float]]) -> float | None:
    """The share of the clip's time where ``flags`` hold, each flag standing for its span."""
    pairs = list(zip(flags, spans))
    total = sum(e - s for _, (s, e) in pairs)
    if not pairs:
        return None
    if total <= 0:
        return sum(f for f, _ in pairs) / len(pairs)
    return sum(e - s for f, (s, e) in pairs if f) / total


@dataclass
class Evidence:
    """What was measured. Times are seconds from the first picture of the clip."""

    clip_file: str
    duration_s: float
    video: StreamSpan
    audio: StreamSpan
    read_error: str | None
    sample_interval_s: float
    times: list[float] = field(default_factory=list)
    faces: list[int] = field(default_factory=list)  # faces in the desk camera's inset
    persons: list[int] = field(default_factory=list)  # faces in the environment picture; -1: not searched
    desk: list[PictureStats] = field(default_factory=list)
    environment: list[PictureStats] = field(default_factory=list)
    sound: SoundSeconds = field(default_factory=SoundSeconds)

    def sample_spans(self) -> list[tuple[float, float]]:
        """The stretch each sample stands for: from its time to the next sample's (the last one: to
        one interval later, or the end of the clip)."""
        ends = [*self.times[1:], self.times[-1] + self.sample_interval_s] if self.times else []
        return [(t, max(t, min(e, self.duration_s))) for t, e in zip(self.times, ends)]

    def person_samples(self) -> tuple[list[bool], list[tuple[float, float]]]:
        """Whether a person was seen, for the samples searched, each standing for the samples up to
        the next one searched."""
        spans = self.sample_spans()
        present: list[bool] = []
        merged: list[tuple[float, float]] = []
        for n, (start, end) in zip(self.persons, spans):
            if n >= 0:
                present.append(n > 0)
                merged.append((start, end))
            elif merged:
                merged[-1] = (merged[-1][0], end)
        return present, merged

    def face_share(self) -> float | None:
        return time_share([n > 0 for n in self.faces], self.sample_spans())

    def person_share(self) -> float | None:
        return time_share(*self.person_samples())

    def speech_share(self, policy: QualityPolicy) -> float | None:
        return time_share([v >= policy.speech_frame_share for v in self.sound.voice_share], self.second_spans())

    def second_spans(self) -> list[tuple[float, float]]:
        start = self.sound.start_s
        return [(start + k, min(start + k + 1, max(self.duration_s, start + k))) for k in range(len(self.sound))]


class ClipMeasurer:
    def __init__(self, policy: QualityPolicy, face_detector: FaceDetector | None = None) -> None:
        self.policy = policy
        self.detector: FaceDetector = face_detector or DlibFaceDetector(policy.detector_threshold)
        self.desk_view = RegionView(policy.inset, (), policy)
        self.environment_view = RegionView(None, policy.environment_excludes, policy)
        self.meter = SoundMeter(policy)
        self.times: list[float] = []
        self.faces: list[int] = []
        self.persons: list[int] = []
        self.desk: list[PictureStats] = []
        self.environment: list[PictureStats] = []

    def faces_in(self, luma: np.ndarray) -> int:
        """Faces in the desk camera's inset of one composed picture."""
        return self.detector.count(resize_to_width(self.desk_view.crop(luma), self.policy.face_analysis_width))

    def persons_in(self, luma: np.ndarray) -> int:
        """People (faces) in the environment picture around the inset and the burned-in text."""
        surroundings = self.environment_view.masked_for_detection(luma, self.policy.person_analysis_width)
        return self.detector.count(surroundings)

    def on_picture(self, t: float, luma: np.ndarray) -> None:
        self.times.append(t)
        self.faces.append(self.faces_in(luma))
        self.desk.append(self.desk_view.measure(luma))
        searched = (len(self.times) - 1) % self.policy.person_every == 0
        self.persons.append(self.persons_in(luma) if searched else -1)  # -1: the sample before stands for it
        self.environment.append(self.environment_view.measure(luma))


def measure_clip(path: str | Path, policy: QualityPolicy, face_detector: FaceDetector | None = None) -> Evidence:
    m = ClipMeasurer(policy, face_detector)
    interval = 1.0 / policy.sample_hz
    read = read_clip(path, interval, m.on_picture, m.meter.add)
    sound = m.meter.finish()
    origin = read.video.start_s if read.video.start_s is not None else (m.times[0] if m.times else 0.0)
    ends = [s.end_s for s in (read.video, read.audio) if s.end_s is not None]
    duration = max(0.0, (read.video.end_s if read.video.end_s is not None else max(ends, default=origin)) - origin)
    sound.start_s = max(0.0, sound.start_s - origin)
    return Evidence(
        clip_file=Path(path).name,
        duration_s=round(duration, 3),
        video=read.video,
        audio=read.audio,
        read_error=read.error,
        sample_interval_s=interval,
        times=[round(t - origin, 3) for t in m.times],
        faces=m.faces,
        persons=m.persons,
        desk=m.desk,
        environment=m.environment,
        sound=sound,
    )
