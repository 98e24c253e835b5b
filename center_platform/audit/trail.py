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


def verify_chain(session: Session, batch: int = 5000) -> list[ChainBreak]:
    """Walks the whole trail; any edited, inserted or removed row breaks a link."""
    problems: list[ChainBreak] = []
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
            prev = row.hash
            last_id = row.id
    head = session.execute(select(AuditHead).where(AuditHead.id == 1)).scalar_one()
    if head.last_hash != prev or head.count != count:
        problems.append(
            ChainBreak(
                last_id, f"the chain ends at {count} rows but the head records {head.count} (rows removed at the end)"
            )
        )
    return problems
