"""Manifests for the quality tests: the archive rig's clip with markers, consent, an origin, and a
product whose required moments and shortest recording are set."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from storage.manifest import ClipManifest
from storage.signing import SigningKey
from tests.center_platform.archive_rig import OPEN_PRODUCT, ArchiveRig, clip_manifest

REQUIRED = ["风险揭示", "客户确认"]


def require(rig: ArchiveRig, markers: list[str] = REQUIRED, min_duration_s: int = 0, code: str = OPEN_PRODUCT) -> None:
    from center_platform.db.models import Product

    with rig.sessions() as db:
        product = db.execute(select(Product).where(Product.code == code)).scalar_one()
        product.required_markers = json.dumps(markers, ensure_ascii=False)
        product.min_duration_s = min_duration_s
        db.commit()


def quality_manifest(
    key: SigningKey,
    media: bytes,
    *,
    duration_ms: int = 3000,
    markers: list[tuple[str, int]] = (),  # type: ignore[assignment]
    consent: bool = True,
    gaps: list[tuple[str, int, int]] = (),  # type: ignore[assignment]
    **fields: Any,
) -> ClipManifest:
    """The rig's manifest for ``media`` with ``markers`` (kind, ms), ``gaps`` (source, start ms,
    duration ms) and, unless refused, consent."""
    base = clip_manifest(key, media, product_code=fields.pop("product_code", OPEN_PRODUCT), **fields)
    data = base.model_dump(mode="json", exclude={"signature"})
    data["duration_ms"] = duration_ms
    data["ended_at"] = (base.started_at + timedelta(milliseconds=duration_ms)).isoformat()
    data["markers"] = [{"kind": kind, "at_ms": at} for kind, at in markers]
    data["gaps"] = [{"source": source, "start_ms": start, "duration_ms": ms} for source, start, ms in gaps]
    if consent:
        data["consent"] = {"at_ms": 500, "given_at": (base.started_at + timedelta(seconds=1)).isoformat()}
    return ClipManifest.model_validate(data).signed(key)
