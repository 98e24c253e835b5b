"""Reading the audit trail: filters, pages, deletion certificates. Read-only; appending lives in audit.py."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from center_platform.db.models import AuditEvent

# Written by the expiry job for every clip it deletes: clip id, hash, retain-until, deleted at, rule.
DELETION_CERTIFICATE = "retention.deleted"


@dataclass(frozen=True)
class AuditFilter:
    at_from: datetime | None = None
    at_to: datetime | None = None
    # Exact action, or a prefix when it ends in "*" ("catalogue.*").
    action: str | None = None
    actor: str | None = None
    target: str | None = None

    def key(self) -> str:
        """Identifies the filter for "viewed once per sign-in per filter"."""
        return json.dumps(
            [
                self.at_from and self.at_from.isoformat(),
                self.at_to and self.at_to.isoformat(),
                self.action,
                self.actor,
                self.target,
            ]
        )


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    detail: dict[str, Any]
    hash: str


@dataclass(frozen=True)
class AuditPage:
    total: int
    offset: int
    limit: int
    rows: list[AuditRow] = field(default_factory=list)


def _where(f: AuditFilter) -> list[Any]:
    conds: list[Any] = []
    if f.at_from is not None:
        conds.append(AuditEvent.at >= f.at_from)
    if f.at_to is not None:
        conds.append(AuditEvent.at < f.at_to)
    if f.action:
        if f.action.endswith("*"):
            prefix = f.action[:-1].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            conds.append(AuditEvent.action.like(prefix + "%", escape="\\"))
        else:
            conds.append(AuditEvent.action == f.action)
    if f.actor:
        conds.append(AuditEvent.actor == f.actor)
    if f.target:
        conds.append(AuditEvent.target == f.target)
    return conds


def _detail(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {"raw": text}
    return value if isinstance(value, dict) else {"value": value}


def audit_page(db: Session, f: AuditFilter, offset: int, limit: int) -> AuditPage:
    """Newest first."""
    conds = _where(f)
    total = db.execute(select(func.count()).select_from(AuditEvent).where(*conds)).scalar_one()
    events = db.execute(
        select(AuditEvent).where(*conds).order_by(AuditEvent.id.desc()).offset(offset).limit(limit)
    ).scalars()
    rows = [AuditRow(e.id, e.at, e.actor, e.action, e.target, _detail(e.detail), e.hash) for e in events]
    return AuditPage(total=total, offset=offset, limit=limit, rows=rows)


def row_json(r: AuditRow) -> dict[str, Any]:
    return {
        "id": r.id,
        "at": r.at.isoformat(),
        "actor": r.actor,
        "action": r.action,
        "target": r.target,
        "detail": r.detail,
        "hash": r.hash,
    }
