"""Recordings placed straight into the store and catalogue with a lock of a few seconds, so retention
tests can start from any purchase day and expiry tests can see a lock really run out."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from center_platform.db.models import Branch, Product, Recording
from tests.center_platform.archive_rig import BRANCH_CODE, ArchiveRig


def stored_recording(
    rig: ArchiveRig,
    *,
    started_at: datetime,
    product_code: str,
    lock_s: float = 60.0,
    catalogue_retain_s: float | None = None,
    customer_name: str = "张三",
) -> str:
    """A clip and its manifest in the store, locked `lock_s` seconds; the catalogue row says
    `catalogue_retain_s` (default: the same). Returns the clip id."""
    clip_id = secrets.token_hex(16)
    media = secrets.token_bytes(2048)
    key = f"clips/{BRANCH_CODE}/{started_at:%Y/%m/%d}/{clip_id}.mp4"
    manifest = f'{{"clip_id":"{clip_id}"}}'.encode()
    now = datetime.now(UTC)
    lock_until = now + timedelta(seconds=lock_s)
    clip = rig.store.put_small(key, media, "video/mp4")
    man = rig.store.put_small(key + ".manifest.json", manifest, "application/json")
    rig.store.set_retention(key, clip.version_id, lock_until)
    rig.store.set_retention(man.key, man.version_id, lock_until)
    with rig.sessions() as db:
        branch = db.execute(select(Branch).where(Branch.code == BRANCH_CODE)).scalar_one()
        product = db.execute(select(Product).where(Product.code == product_code)).scalar_one()
        db.add(
            Recording(
                clip_id=clip_id,
                branch_id=branch.id,
                counter_code="C01",
                staff_code="1000001",
                business_serial="SN-" + clip_id[:8],
                customer_name=customer_name,
                customer_id_type="passport",
                customer_id_number="E12345678",
                card_number="6222021234567890128",
                product_id=product.id,
                product_type_id=product.product_type_id,
                started_at=started_at,
                ended_at=started_at + timedelta(seconds=3),
                duration_ms=3000,
                clip_state="completed",
                size=len(media),
                sha256=hashlib.sha256(media).hexdigest(),
                manifest_sha256=hashlib.sha256(manifest).hexdigest(),
                manifest_json=manifest.decode(),
                object_key=key,
                version_id=clip.version_id,
                state="archived",
                retention_rule=product.product_type.retention_rule,
                retain_until=now + timedelta(seconds=catalogue_retain_s if catalogue_retain_s is not None else lock_s),
                retention_reason="test lock",
            )
        )
        db.commit()
    return clip_id


def recording(rig: ArchiveRig, clip_id: str) -> Recording:
    with rig.sessions() as db:
        return db.execute(select(Recording).where(Recording.clip_id == clip_id)).scalar_one()
