"""Pending changes: what one system admin proposed and a different one must approve before it applies.

A proposal records what changes (`before` and `after`, for the page and the audit trail) and what
will be applied (`payload`: for a password only its hash, emptied as soon as the proposal is decided).
One proposal per target and kind waits at a time. A proposal is applied once, rejected (by anyone
with the role, its proposer included, who so withdraws it) or lapses after `[approvals] expire_hours`;
each step is one audit line with before and after. Applying is `four_eyes.approve`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from center_platform.admin.catalogue import Approval, CatalogueError
from center_platform.audit import trail as audit
from center_platform.db.models import PendingChange, User
from storage.database import utcnow

PENDING = "pending"
APPLIED = "applied"
REJECTED = "rejected"
EXPIRED = "expired"

RETENTION_RULE = "retention_rule"
BRANCH_SIGNING_KEY = "branch_signing_key"
USER_PASSWORD = "user_password"
USER_ROLE = "user_role"
BRANCH_CAMERAS = "branch_cameras"
KIND_LABELS = {
    RETENTION_RULE: "保存规则 Retention rule",
    BRANCH_SIGNING_KEY: "网点签名密钥 Branch signing key",
    USER_PASSWORD: "密码重置 Password reset",
    USER_ROLE: "用户角色 User role",
    BRANCH_CAMERAS: "网点摄像机配置 Branch cameras",
}
SYSTEM_ADMIN = "system_admin"
SYSTEM_ACTOR = "system"


@dataclass(frozen=True)
class ApprovalPolicy:
    """From the center's configuration: how long a proposal waits, and the floor under retention."""

    expire_hours: int
    minimum_years: int


def change_view(c: PendingChange) -> dict[str, Any]:
    return {
        "id": c.id,
        "kind": c.kind,
        "kind_label": KIND_LABELS.get(c.kind, c.kind),
        "target": c.target,
        "state": c.state,
        "before": json.loads(c.before_json),
        "after": json.loads(c.after_json),
        "proposed_by": c.proposed_by,
        "proposed_at": c.proposed_at.isoformat(),
        "expires_at": c.expires_at.isoformat(),
        "decided_by": c.decided_by,
        "decided_at": c.decided_at.isoformat() if c.decided_at else None,
        "note": c.note,
    }


def _audit(db: Session, actor: str, step: str, c: PendingChange, **extra: object) -> None:
    detail: dict[str, object] = {
        "change": c.id,
        "kind": c.kind,
        "before": json.loads(c.before_json),
        "after": json.loads(c.after_json),
        "proposed_by": c.proposed_by,
        **extra,
    }
    audit.append(db, actor, f"admin.change.{step}", c.target, detail)


def expire_due(db: Session, now: datetime | None = None) -> int:
    """Proposals past their time lapse (audited, payload dropped); returns how many."""
    at = now or utcnow()
    due = db.execute(
        select(PendingChange).where(PendingChange.state == PENDING, PendingChange.expires_at <= at)
    ).scalars()
    count = 0
    for c in due:
        c.state = EXPIRED
        c.decided_at = at
        c.payload_json = "{}"
        _audit(db, SYSTEM_ACTOR, "expired", c, expired_at=c.expires_at.isoformat())
        count += 1
    if count:
        db.flush()
    return count


def list_pending(db: Session, now: datetime | None = None) -> list[dict[str, Any]]:
    expire_due(db, now)
    rows = db.execute(select(PendingChange).where(PendingChange.state == PENDING).order_by(PendingChange.id))
    return [change_view(c) for c in rows.scalars()]


def propose(
    db: Session,
    actor: str,
    kind: str,
    target: str,
    *,
    payload: dict[str, Any],
    before: dict[str, Any],
    after: dict[str, Any],
    policy: ApprovalPolicy,
) -> dict[str, Any]:
    now = utcnow()
    expire_due(db, now)
    waiting = db.execute(
        select(PendingChange.id).where(
            PendingChange.state == PENDING, PendingChange.kind == kind, PendingChange.target == target
        )
    ).scalar_one_or_none()
    if waiting is not None:
        raise CatalogueError(
            f"{target} 已有一项待复核的{KIND_LABELS[kind].split()[0]}变更(#{waiting}),请先复核或驳回 / "
            f"a change of this to {target} already awaits approval (#{waiting}); approve or reject it first",
            409,
        )
    c = PendingChange(
        kind=kind,
        target=target,
        state=PENDING,
        payload_json=json.dumps(payload, ensure_ascii=False),
        before_json=json.dumps(before, ensure_ascii=False, default=str),
        after_json=json.dumps(after, ensure_ascii=False, default=str),
        proposed_by=actor,
        proposed_at=now,
        expires_at=now + timedelta(hours=policy.expire_hours),
    )
    db.add(c)
    db.flush()
    _audit(db, actor, "proposed", c, expires_at=c.expires_at.isoformat())
    return change_view(c)


def _locked(db: Session, change_id: int) -> PendingChange:
    c = db.execute(select(PendingChange).where(PendingChange.id == change_id).with_for_update()).scalar_one_or_none()
    if c is None:
        raise CatalogueError(f"没有待复核变更 #{change_id} / no pending change #{change_id}", 404)
    return c


def _undecided(db: Session, change_id: int) -> PendingChange:
    """The change, locked, if it still waits; expired first if its time is up."""
    expire_due(db)
    c = _locked(db, change_id)
    if c.state == EXPIRED:
        raise CatalogueError(
            f"变更 #{c.id} 已过期({c.expires_at.isoformat()}),请重新提出 / "
            f"change #{c.id} expired at {c.expires_at.isoformat()}; propose it again",
            409,
        )
    if c.state != PENDING:
        raise CatalogueError(f"变更 #{c.id} 已处理({c.state}) / change #{c.id} is already {c.state}", 409)
    return c


def _must_be_system_admin(db: Session, username: str) -> None:
    user = db.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None or not user.active or user.role != SYSTEM_ADMIN:
        raise CatalogueError("只有系统管理员可以复核 / only a system admin may decide a pending change", 403)


def take_for_approval(db: Session, approver: str, change_id: int) -> tuple[PendingChange, Approval]:
    """The change to apply, if `approver` may: an active system admin other than its proposer."""
    c = _undecided(db, change_id)
    _must_be_system_admin(db, approver)
    if approver == c.proposed_by:
        raise CatalogueError(
            f"不能复核本人提出的变更 #{c.id},须由另一名系统管理员复核 / "
            f"you cannot approve your own change #{c.id}; another system admin must",
            403,
        )
    return c, Approval(change_id=c.id, proposed_by=c.proposed_by, approved_by=approver)


def mark_applied(db: Session, c: PendingChange, approver: str, result: dict[str, Any]) -> dict[str, Any]:
    c.state = APPLIED
    c.decided_by = approver
    c.decided_at = utcnow()
    c.payload_json = "{}"
    db.flush()
    _audit(db, approver, "approved", c, applied=True, **result)
    return change_view(c)


def reject(db: Session, actor: str, change_id: int, note: str) -> dict[str, Any]:
    c = _undecided(db, change_id)
    _must_be_system_admin(db, actor)
    c.state = REJECTED
    c.decided_by = actor
    c.decided_at = utcnow()
    c.note = note[:2000]
    c.payload_json = "{}"
    db.flush()
    _audit(db, actor, "rejected", c, note=c.note, withdrawn=actor == c.proposed_by)
    return change_view(c)


def payload(c: PendingChange) -> dict[str, Any]:
    value = json.loads(c.payload_json)
    assert isinstance(value, dict)
    return value
