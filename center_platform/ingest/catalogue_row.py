"""What a recording's catalogue row takes from its signed manifest: the same at ingest and at a rebuild
from the store, so a rebuilt catalogue searches exactly like the one it replaces."""

from __future__ import annotations

from storage.manifest import ClipManifest


def manifest_columns(manifest: ClipManifest) -> dict[str, object]:
    return {
        "clip_id": manifest.clip_id,
        "counter_code": manifest.counter_code,
        "staff_code": manifest.staff_code,
        "business_serial": manifest.business_serial,
        "customer_name": manifest.customer.name,
        "customer_id_type": manifest.customer.id_type,
        "customer_id_number": manifest.customer.id_number,
        "card_number": manifest.customer.card_number,
        "started_at": manifest.started_at,
        "ended_at": manifest.ended_at,
        "duration_ms": manifest.duration_ms,
        "clip_state": manifest.state,
        "size": manifest.media.size,
        "sha256": manifest.media.sha256,
        "manifest_sha256": manifest.manifest_sha256(),
        "prev_manifest_sha256": manifest.prev_manifest_sha256,
        "origin": manifest.origin,
        "earlier_clip_id": manifest.earlier_clip_id,
        "sale_at": manifest.supplementary.sale_at if manifest.supplementary else None,
        "consent_at": manifest.consent.given_at if manifest.consent else None,
    }
