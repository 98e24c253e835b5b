"""The product's required moments read from a manifest: a rule of its own, with nothing but the manifest
to read, so that the center applies it at ingest without loading the picture and sound analysis."""

from __future__ import annotations

from itertools import pairwise

from storage.quality.policy import ManifestFacts, Marker, QualityPolicy, marker_key
from storage.quality.report import Finding, finding


def marker_findings(facts: ManifestFacts, policy: QualityPolicy, duration: float) -> list[Finding]:
    """The product's required moments: each on the recording (its time within the clip; the first of a
    kind counts) and in the product's order."""
    on_clip: dict[str, Marker] = {}
    for m in sorted(facts.markers, key=lambda m: m.at_s):
        if m.at_s <= duration + 1.0:
            on_clip.setdefault(marker_key(m.name), m)
    out: list[Finding] = []
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
