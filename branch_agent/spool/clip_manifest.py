"""A clip's manifest on the branch: built from the sale and the media, signed, chained, committed durably.

Commit order (after Moonfire NVR): media fsync'd by the writer, manifest written to a temporary file,
fsync'd and renamed, directory fsync'd, then the chain head and the clip row in one transaction.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import update
from sqlalchemy.orm import Session

from branch_agent.db.models import PENDING, ChainHead, Clip, LocalAudit
from storage.manifest import ClipManifest, Consent, ImportedFrom, Marker, Origin, Supplementary, sha256_file
from storage.signing import SigningKey


@dataclass(frozen=True)
class SaleInfo:
    business_serial: str
    customer_name: str
    id_type: str
    id_number: str
    card_number: str
    product_code: str
    product_name: str
    product_type_code: str


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    # 0600 from the first byte: a manifest names the customer; a leftover .tmp is closed too.
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as fh:
        os.fchmod(fh.fileno(), 0o600)
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def audit_local(db: Session, actor: str, action: str, target: str, detail: dict[str, object] | None = None) -> None:
    db.add(LocalAudit(actor=actor, action=action, target=target, detail=json.dumps(detail or {}, ensure_ascii=False)))


def build_manifest(
    clip: Clip,
    sale: SaleInfo,
    branch_code: str,
    state: str,
    started_at: datetime,
    ended_at: datetime,
    duration_ms: int,
    media: Path,
    codec: dict[str, object],
    gaps: list[dict[str, object]],
    markers: list[Marker],
    prev: str | None,
    key: SigningKey,
    media_digest: tuple[str, int] | None = None,
    *,
    origin: Origin = "recorded",
    earlier_clip_id: str | None = None,
    supplementary: Supplementary | None = None,
    imported: ImportedFrom | None = None,
    consent: Consent | None = None,
    markers_missing_reason: str | None = None,
) -> ClipManifest:
    digest, size = media_digest or sha256_file(media)
    return ClipManifest.model_validate(
        {
            "clip_id": clip.clip_id,
            "state": state,
            "branch_code": branch_code,
            "counter_code": clip.counter_code,
            "staff_code": clip.staff_code,
            "business_serial": sale.business_serial,
            "customer": {
                "name": sale.customer_name,
                "id_type": sale.id_type,
                "id_number": sale.id_number,
                "card_number": sale.card_number,
            },
            "product": {"code": sale.product_code, "name": sale.product_name, "type_code": sale.product_type_code},
            "started_at": started_at,
            "ended_at": ended_at,
            "duration_ms": duration_ms,
            "media": {"file_name": media.name, "size": size, "sha256": digest, **codec},
            "gaps": gaps,
            "markers": [m.model_dump() for m in markers],
            "prev_manifest_sha256": prev,
            "origin": origin,
            "earlier_clip_id": earlier_clip_id,
            "supplementary": supplementary,
            "imported": imported,
            "consent": consent,
            "markers_missing_reason": markers_missing_reason,
        }
    ).signed(key)


def commit_manifest(db: Session, clip: Clip, manifest: ClipManifest, state: str) -> None:
    """Manifest durable on disk first, then chain head and row in one transaction."""
    media = Path(clip.media_path)
    manifest_path = media.with_suffix(".manifest.json")
    write_durably(manifest_path, manifest.canonical_bytes())
    head = db.get(ChainHead, 1)
    if head is None:
        head = ChainHead(id=1, manifest_sha256=None)
        db.add(head)
    head.manifest_sha256 = manifest.manifest_sha256()
    clip.state = state
    clip.manifest_path = str(manifest_path)
    clip.ended_at = manifest.ended_at
    clip.duration_ms = manifest.duration_ms
    clip.size = manifest.media.size
    clip.sha256 = manifest.media.sha256
    clip.manifest_sha256 = head.manifest_sha256
    clip.upload_state = PENDING


def chain_head(db: Session) -> str | None:
    """The branch's latest manifest, read under the database's write lock, which this transaction then
    holds until it commits the next manifest.

    Counters complete on their own threads; two reading the same head would each name it as their
    predecessor, a fork the center quarantines. Writing the head row first (a no-op update) takes
    SQLite's write lock, so the next completion waits here until this one's manifest is committed.
    Hash the media before calling this: the lock is held only for signing and one small fsync'd write.
    """
    taken = db.execute(update(ChainHead).where(ChainHead.id == 1).values(manifest_sha256=ChainHead.manifest_sha256))
    if getattr(taken, "rowcount", 0) == 0:
        db.add(ChainHead(id=1, manifest_sha256=None))
        db.flush()
        return None
    head = db.get(ChainHead, 1, populate_existing=True)
    return head.manifest_sha256 if head else None
