"""What a clip's manifest alone says about its compliance, judged at once when it arrives: whether it
was cut off, its gaps, its length against the product's minimum, the product's required moments
present and in order, and the customer's consent.

These are findings, never a reason to refuse a clip: a poor recording is still evidence and is
archived and locked like any other. The picture and sound are judged later by the media analysis
(``center_platform.archive.clip_quality``), whose report repeats the manifest's findings and adds
its own; consent is only known here, so the center adds it to that report too.
"""

from __future__ import annotations

from center_platform.admin.catalogue import product_markers
from center_platform.db.models import Product
from storage.manifest import ClipManifest
from storage.quality.markers import marker_findings
from storage.quality.policy import ManifestFacts, QualityPolicy
from storage.quality.report import Finding, Severity, finding


def product_policy(product: Product | None, base: QualityPolicy | None = None) -> QualityPolicy:
    """The center's thresholds with the product's required moments and shortest recording."""
    policy = base or QualityPolicy()
    if product is None:
        return policy
    return policy.for_product(product_markers(product), product.min_duration_s)


def manifest_findings(manifest: ClipManifest, policy: QualityPolicy) -> list[Finding]:
    facts = ManifestFacts.from_manifest(manifest)
    duration = facts.duration_s or 0.0
    out: list[Finding] = []
    if facts.state == "interrupted":
        out.append(finding("interrupted", "fail", "clip", duration, duration))
    gap_rule = policy.rule("gap")
    for gap in facts.gaps:
        if gap.duration_s + 1e-6 < gap_rule.min_s:
            continue
        long_gap = gap_rule.fail_s is not None and gap.duration_s + 1e-6 >= gap_rule.fail_s
        severity: Severity = "fail" if long_gap else "warn"
        out.append(
            finding(
                "gap",
                severity,
                "clip",
                gap.start_s,
                gap.start_s + gap.duration_s,
                source=gap.source,
                duration=f"{gap.duration_s:.1f}",
            )
        )
    if duration + 1e-6 < policy.min_duration_s:
        out.append(
            finding(
                "too_short",
                "fail",
                "clip",
                0.0,
                duration,
                duration=f"{duration:.0f}",
                minimum=f"{policy.min_duration_s:.0f}",
            )
        )
    out += marker_findings(facts, policy, duration)
    out += consent_findings(manifest)
    out.sort(key=lambda f: (f.start_s, f.code, f.subject))
    return out


def consent_findings(manifest: ClipManifest) -> list[Finding]:
    """An imported recording was made on another device, where the counter could not ask for consent.

    A warning, not a failure: the counter starts no take without the consent box ticked, and writes the
    consent into every manifest; one without it comes from a branch whose software predates that member,
    so its absence is not evidence that the customer did not agree."""
    if manifest.consent is not None or manifest.origin == "imported":
        return []
    return [finding("consent_missing", "warn", "clip", 0.0, manifest.duration_ms / 1000)]
