"""The checks of what a clip shows and sounds like, each a small function over the measurements.

A check takes the ``Evidence`` (what was measured), the ``QualityPolicy`` and the ``ManifestFacts``
and returns ``Finding``s, each with the stretch of the clip it is about: consecutive bad samples
(or seconds) are merged into one stretch. ``CHECKS`` lists them in the order the report shows;
``register`` adds one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np

from storage.quality.measure import Evidence, time_share
from storage.quality.policy import FindingCode, ManifestFacts, QualityPolicy
from storage.quality.report import Finding, Subject, finding

Check = Callable[[Evidence, QualityPolicy, ManifestFacts], list[Finding]]
CHECKS: list[Check] = []


def register(check: Check) -> Check:
    CHECKS.append(check)
    return check


def stretches(flags: Sequence[bool], spans: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """Merge runs of consecutive True flags into ``(start, end)`` stretches of the clip."""
    out: list[tuple[float, float]] = []
    start: float | None = None
    end = 0.0
    for flag, (s, e) in zip(flags, spans):
        if flag:
            start = s if start is None else start
            end = e
        elif start is not None:
            out.append((start, end))
            start = None
    if start is not None:
        out.append((start, end))
    return out


def _defect_findings(
    code: FindingCode,
    subject: Subject,
    flags: Sequence[bool],
    spans: Sequence[tuple[float, float]],
    policy: QualityPolicy,
    **values: object,
) -> list[Finding]:
    """Stretches at least ``min_s`` long are reported; ``fail_s`` or longer fail the clip."""
    rule = policy.rule(code)
    out = []
    for start, end in stretches(flags, spans):
        length = end - start
        if length + 1e-6 < rule.min_s or length <= 0:
            continue
        severity: Literal["fail", "warn"] = (
            "fail" if rule.fail_s is not None and length + 1e-6 >= rule.fail_s else "warn"
        )
        out.append(finding(code, severity, subject, start, end, **values))
    return out


def _presence_findings(
    code: FindingCode,
    subject: Subject,
    present: Sequence[bool],
    spans: Sequence[tuple[float, float]],
    minimum: float,
    duration_s: float,
    policy: QualityPolicy,
) -> tuple[float | None, list[Finding]]:
    """Stretches without a face, a person or a voice; they fail the clip when the share of samples
    with one is below ``minimum``, and are warnings otherwise."""
    share = time_share(present, spans)
    if share is None:
        return None, []
    failing = share + 1e-9 < minimum
    shares = {
        "share_zh": f"（全片比例 {share:.0%}，要求不低于 {minimum:.0%}）",
        "share_en": f" (in {share:.0%} of the clip, {minimum:.0%} required)",
    }
    rule = policy.rule(code)
    out = []
    for start, end in stretches([not p for p in present], spans):
        if end - start + 1e-6 >= max(rule.min_s, 1e-3):
            out.append(finding(code, "fail" if failing else "warn", subject, start, end, **shares))
    if failing and not out:
        out.append(finding(code, "fail", subject, 0.0, duration_s, **shares))
    return share, out


@register
def faces_in_desk_camera(ev: Evidence, policy: QualityPolicy, facts: ManifestFacts) -> list[Finding]:
    return _presence_findings(
        "no_face", "desk", [n > 0 for n in ev.faces], ev.sample_spans(), policy.min_face_share, ev.duration_s, policy
    )[1]


@register
def person_in_environment(ev: Evidence, policy: QualityPolicy, facts: ManifestFacts) -> list[Finding]:
    present, spans = ev.person_samples()
    return _presence_findings(
        "no_person", "environment", present, spans, policy.min_person_share, ev.duration_s, policy
    )[1]


@register
def speech(ev: Evidence, policy: QualityPolicy, facts: ManifestFacts) -> list[Finding]:
    voiced = [s >= policy.speech_frame_share for s in ev.sound.voice_share]
    out = _presence_findings(
        "no_speech", "microphone", voiced, ev.second_spans(), policy.min_speech_share, ev.duration_s, policy
    )[1]
    if not ev.sound.voice_share and ev.duration_s > 0:
        out.append(finding("no_speech", "fail", "microphone", 0.0, ev.duration_s))
    return out


@register
def sound_level(ev: Evidence, policy: QualityPolicy, facts: ManifestFacts) -> list[Finding]:
    s, spans = ev.sound, ev.second_spans()
    n = len(s)
    if ev.audio.start_s is None:
        if ev.video.start_s is None:
            return []  # nothing could be read: the clip is unreadable, not silent
        return [finding("silent", "fail", "microphone", 0.0, ev.duration_s, level=f"{policy.silent_dbfs:g}")]
    out = _defect_findings(
        "silent",
        "microphone",
        [r < policy.silent_dbfs for r in s.rms_dbfs[:n]],
        spans,
        policy,
        level=f"{policy.silent_dbfs:g}",
    )
    out += _defect_findings(
        "clipped", "microphone", [c >= policy.clipped_sample_share for c in s.clipped_share[:n]], spans, policy
    )
    voiced = [r for r, v in zip(s.rms_dbfs, s.voice_share) if v >= policy.speech_frame_share]
    if voiced and float(np.median(voiced)) < policy.quiet_speech_dbfs:
        out.append(finding("quiet", "warn", "microphone", 0.0, ev.duration_s, level=f"{float(np.median(voiced)):.0f}"))
    return out


@register
def picture(ev: Evidence, policy: QualityPolicy, facts: ManifestFacts) -> list[Finding]:
    spans = ev.sample_spans()
    out: list[Finding] = []
    subjects: tuple[tuple[Subject, list], ...] = (("desk", ev.desk), ("environment", ev.environment))
    for subject, stats in subjects:
        flags = [s.flags(policy) for s in stats]
        for code in ("black", "occluded", "too_dark", "too_bright", "blurred"):
            out += _defect_findings(code, subject, [f[code] for f in flags], spans, policy)
        # A sample is frozen when its picture did not change from the previous one or to the next;
        # a black picture shows no movement either, and is reported as black.
        still = [s.change is not None and s.change < policy.frozen_mad and not f["black"] for s, f in zip(stats, flags)]
        frozen = [still[i] or (i + 1 < len(still) and still[i + 1]) for i in range(len(still))]
        out += _defect_findings("frozen", subject, frozen, spans, policy)
    return out


@register
def sound_and_picture_in_step(ev: Evidence, policy: QualityPolicy, facts: ManifestFacts) -> list[Finding]:
    v, a = ev.video, ev.audio
    if v.start_s is None or a.start_s is None or v.end_s is None or a.end_s is None:
        return []
    offset = max(abs(v.start_s - a.start_s), abs(v.end_s - a.end_s))
    if offset <= policy.max_av_offset_s:
        return []
    origin = v.start_s
    start = min(v.end_s, a.end_s) - origin if abs(v.end_s - a.end_s) > abs(v.start_s - a.start_s) else 0.0
    return [finding("desync", "fail", "clip", start, ev.duration_s, offset=f"{offset:.2f}")]
