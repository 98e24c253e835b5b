"""The audit trail: append-only, each row chained to the previous one by SHA-256.

Appends happen inside the caller's transaction, so an action and its audit line commit together or
not at all. Updating the single `audit_head` row first takes the write lock on SQLite and a row lock
on PostgreSQL, which keeps the chain linear under concurrent writers.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from center_platform.audit.anchor import Checkpoint, StoredCheckpoint, mac_valid
from center_platform.db.models import AuditEvent, AuditHead, utcnow
from storage.manifest import canonical_json

GENESIS = "0" * 64


def event_hash(prev_hash: str, at: datetime, actor: str, action: str, target: str, detail: str) -> str:
    payload = canonical_json(
        {"prev": prev_hash, "at": at.isoformat(), "actor": actor, "action": action, "target": target, "detail": detail}
    )
    return hashlib.sha256(payload).hexdigest()


def append(
    session: Session, actor: str, action: str, target: str, detail: dict[str, object] | None = None
) -> AuditEvent:
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(count=AuditHead.count + 1))
    head = session.execute(select(AuditHead).where(AuditHead.id == 1)).scalar_one()
    session.refresh(head)
    at = utcnow()
    detail_text = json.dumps(detail or {}, sort_keys=True, ensure_ascii=False, default=str)
    digest = event_hash(head.last_hash, at, actor, action, target, detail_text)
    row = AuditEvent(
        at=at, actor=actor, action=action, target=target, detail=detail_text, prev_hash=head.last_hash, hash=digest
    )
    session.add(row)
    head.last_hash = digest
    session.flush()
    return row


@dataclass(frozen=True)
class ChainBreak:
    event_id: int
    problem: str


@dataclass(frozen=True)
class Anchors:
    """The checkpoints found in the store and the key their HMAC was made with."""

    checkpoints: list[StoredCheckpoint]
    key: bytes


def verify_chain(session: Session, batch: int = 5000, anchors: Anchors | None = None) -> list[ChainBreak]:
    """Walks the whole trail; any edited, inserted or removed row breaks a link.

    With anchors, a row at a checkpoint's position must carry the checkpoint's hash, and the trail must
    be at least as long as the longest checkpoint: a tail cut together with the head is found.
    """
    problems: list[ChainBreak] = []
    # (object key, checkpoint), longest last so the walk pops them in trail order
    pending: list[tuple[str, Checkpoint]] = []
    if anchors:
        for stored in anchors.checkpoints:
            if stored.checkpoint is None:
                problems.append(ChainBreak(0, f"checkpoint {stored.key} {stored.problem}"))
            elif not mac_valid(anchors.key, stored.checkpoint):
                problems.append(ChainBreak(0, f"checkpoint {stored.key} fails its HMAC (forged, or another key)"))
            else:
                pending.append((stored.key, stored.checkpoint))
    pending.sort(key=lambda kc: kc[1].count, reverse=True)
    prev = GENESIS
    count = 0
    last_id = 0
    while True:
        rows = (
            session.execute(select(AuditEvent).where(AuditEvent.id > last_id).order_by(AuditEvent.id).limit(batch))
            .scalars()
            .all()
        )
        if not rows:
            break
        for row in rows:
            count += 1
            if row.prev_hash != prev:
                problems.append(ChainBreak(row.id, "does not link to the previous row (a row was removed or inserted)"))
            expected = event_hash(row.prev_hash, row.at, row.actor, row.action, row.target, row.detail)
            if expected != row.hash:
                problems.append(ChainBreak(row.id, "content does not match its hash (the row was edited)"))
            while pending and pending[-1][1].count == count:
                cp_key, cp = pending.pop()
                if cp.head_hash != row.hash:
                    problems.append(ChainBreak(row.id, f"differs from checkpoint {cp_key} (the trail was rewritten)"))
            prev = row.hash
            last_id = row.id
    for cp_key, cp in pending:
        problems.append(
            ChainBreak(
                last_id,
                f"the trail has {count} rows but checkpoint {cp_key} of {cp.written_at.isoformat()} "
                f"proves {cp.count} (rows removed at the end)",
            )
        )
    head = session.execute(select(AuditHead).where(AuditHead.id == 1)).scalar_one()
    if head.last_hash != prev or head.count != count:
        problems.append(
            ChainBreak(
                last_id, f"the chain ends at {count} rows but the head records {head.count} (rows removed at the end)"
            )
        )
    return problems
