"""Checks of the recording as a whole, from its manifest: gaps, an interrupted end, its length, and
the moments the product requires (风险揭示, 客户确认, …) present and in order."""

from __future__ import annotations

from storage.quality.checks import register
from storage.quality.markers import marker_findings
from storage.quality.measure import Evidence
from storage.quality.policy import ManifestFacts, QualityPolicy
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
    return marker_findings(facts, policy, _duration(ev, facts))
