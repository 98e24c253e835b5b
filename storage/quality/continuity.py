"""Checks of the recording as a whole, from its manifest: gaps, an interrupted end, its length, and
the moments the product requires (风险揭示, 客户确认, …) present and in order."""

from __future__ import annotations

from itertools import pairwise

from storage.quality.checks import register
from storage.quality.measure import Evidence
from storage.quality.policy import ManifestFacts, Marker, QualityPolicy, marker_key
from storage.quality.report import Finding, Severity, Subject, finding


def _duration(ev: Evidence, facts: ManifestFacts) -> float:
    return facts.duration_s if facts.duration_s is not None else ev.duration_s


@register
def gaps(ev: Evidence, policy: QualityPolicy, facts: ManifestFacts) -> list[Finding]:
    rule = policy.rule("gap")
    out = []
    for gap in facts.gaps:
        if gap.duration_s + 1e-6 < rule.min_s:
            continue
        subject: Subject = facts.source_roles.get(gap.source, "clip")
        severity: Severity = "fail" if rule.fail_s is not None and gap.duration_s + 1e-6 >= rule.fail_s else "warn"
        out.append(
            finding(
                "gap",
                severity,
                subject,
                gap.start_s,
                gap.start_s + gap.duration_s,
                source=gap.source,
                duration=f"{gap.duration_s:.1f}",
            )
        )
    return out


@register
def completed(ev: Evidence, policy: QualityPolicy, facts: ManifestFacts) -> list[Finding]:
    duration = _duration(ev, facts)
    out = []
    if facts.state == "interrupted":
        out.append(finding("interrupted", "fail", "clip", duration, duration))
    if ev.read_error is not None and (facts.state == "completed" or not ev.times):
        out.append(
            finding("unreadable", "fail", "clip", ev.times[-1] if ev.times else 0.0, duration, error=ev.read_error)
        )
    elif not ev.times:
        out.append(finding("unreadable", "fail", "clip", 0.0, duration, error="no picture"))
    return out


@register
def long_enough(ev: Evidence, policy: QualityPolicy, facts: ManifestFacts) -> list[Finding]:
    duration = _duration(ev, facts)
    if duration + 1e-6 >= policy.min_duration_s:
        return []
    return [
        finding(
            "too_short",
            "fail",
            "clip",
            0.0,
            duration,
            duration=f"{duration:.0f}",
            minimum=f"{policy.min_duration_s:.0f}",
        )
    ]


@register
def required_markers(ev: Evidence, policy: QualityPolicy, facts: ManifestFacts) -> list[Finding]:
    duration = _duration(ev, facts)
    # A marker counts when it is on the recording: its time within the clip.
    on_clip: dict[str, Marker] = {}
    for m in sorted(facts.markers, key=lambda m: m.at_s):
        if m.at_s <= duration + 1.0:
            on_clip.setdefault(marker_key(m.name), m)
    out = []
    found: list[tuple[str, Marker]] = []
    for name in policy.required_markers:
        marker = on_clip.get(marker_key(name))
        if marker is None:
            out.append(finding("marker_missing", "fail", "clip", 0.0, duration, name=name))
        else:
            found.append((name, marker))
    for (first, a), (then, b) in pairwise(found):
        if b.at_s < a.at_s:
            out.append(finding("marker_order", "fail", "clip", b.at_s, a.at_s, first=first, then=then))
    return out
