"""Anchors of the audit trail outside the database: signed checkpoints written as locked objects.

The hash chain in the database shows an edited or removed row, but not a cut tail: whoever can delete the
last rows can also rewind `audit_head`. A checkpoint records the trail's length and head hash at a moment,
carries an HMAC under a key that is not in the database, and is written to the evidence store under
COMPLIANCE retention, where nobody can remove it. `verify_chain` then finds a trail shorter than a
checkpoint, or one whose row at a checkpoint's position has another hash.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from center_platform.db.models import AuditHead, utcnow
from storage.manifest import canonical_json
from storage.object_store import ObjectStore, StorageError

log = logging.getLogger(__name__)

MAX_CHECKPOINT_BYTES = 4096


@dataclass(frozen=True)
class Checkpoint:
    count: int
    head_hash: str
    written_at: datetime
    mac: str

    def signed_fields(self) -> bytes:
        return canonical_json(
            {"count": self.count, "head_hash": self.head_hash, "written_at": self.written_at.isoformat()}
        )

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "count": self.count,
                "head_hash": self.head_hash,
                "written_at": self.written_at.isoformat(),
                "hmac_sha256": self.mac,
            },
            sort_keys=True,
        ).encode("utf-8")


@dataclass(frozen=True)
class StoredCheckpoint:
    key: str
    checkpoint: Checkpoint | None  # None: the object could not be read as a checkpoint
    problem: str = ""


def _mac(key: bytes, body: bytes) -> str:
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def sign(key: bytes, count: int, head_hash: str, written_at: datetime) -> Checkpoint:
    unsigned = Checkpoint(count, head_hash, written_at, "")
    return Checkpoint(count, head_hash, written_at, _mac(key, unsigned.signed_fields()))


def mac_valid(key: bytes, cp: Checkpoint) -> bool:
    return hmac.compare_digest(_mac(key, cp.signed_fields()), cp.mac)


def object_key(prefix: str, count: int) -> str:
    # Zero-padded so that the store lists checkpoints in trail order.
    return f"{prefix}{count:020d}.json"


def write_checkpoint(
    session: Session, store: ObjectStore, prefix: str, key: bytes, retention: timedelta, now: datetime | None = None
) -> Checkpoint | None:
    """Anchors the current head; None when the trail has not grown since the last checkpoint."""
    head = session.execute(select(AuditHead).where(AuditHead.id == 1)).scalar_one()
    if head.count == 0:
        return None
    target = object_key(prefix, head.count)
    if store.list_versions(target):
        return None
    at = now or utcnow()
    cp = sign(key, head.count, head.last_hash, at)
    store.put_small(target, cp.to_json(), "application/json", locked_until=at + retention)
    log.info("audit checkpoint at %d rows written to the store", head.count)
    return cp


def parse(data: bytes) -> Checkpoint:
    raw = json.loads(data.decode("utf-8"))
    return Checkpoint(
        count=int(raw["count"]),
        head_hash=str(raw["head_hash"]),
        written_at=datetime.fromisoformat(str(raw["written_at"])),
        mac=str(raw["hmac_sha256"]),
    )


def stored_checkpoints(store: ObjectStore, prefix: str) -> list[StoredCheckpoint]:
    """Every checkpoint version in the store, in trail order. Unreadable ones are returned with the reason."""
    found: list[StoredCheckpoint] = []
    for version in sorted(store.list_versions(prefix), key=lambda v: v.key):
        try:
            found.append(
                StoredCheckpoint(
                    version.key, parse(store.read_small(version.key, version.version_id, MAX_CHECKPOINT_BYTES))
                )
            )
        except (StorageError, ValueError, KeyError, UnicodeDecodeError) as exc:
            found.append(StoredCheckpoint(version.key, None, f"cannot be read as a checkpoint: {exc}"))
    return found
