"""Approval of supplementary recordings (事后补录): who approved or rejected which, and the list to work.

A supplementary recording is made after the sale because the sale's own recording is missing, cut off
or failed its check. It counts as the sale's evidence once approved: by the branch admin at the branch
(sent in by the branch) or by a compliance officer here. A compliance officer's decision stands over
the branch's: a branch decision arriving after it is kept in the audit trail only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from center_platform.audit import trail as audit
from center_platform.db.models import Branch, Product, Recording, utcnow
from center_platform.db.supplementary_models import (
    APPROVED,
    BY_BRANCH,
    BY_COMPLIANCE,
    DECISIONS,
    PENDING,
    REJECTED,
    SupplementaryApproval,
)

STATES = (PENDING, APPROVED, REJECTED)
STATE_LABELS = {PENDING: "待审批 / pending", APPROVED: "已批准 / approved", REJECTED: "已驳回 / rejected"}
DECIDED_AS_LABELS = {BY_BRANCH: "网点主管 / branch admin", BY_COMPLIANCE: "合规 / compliance"}
MAX_LISTED = 500
_SUPPLEMENTARY = "supplementary"


class SupplementaryError(ValueError):
    """A decision that cannot be taken; the message is for the user (Chinese, then English)."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Decided:
    state: str  # approved | rejected
    decided_by: str
    decided_as: str
    reason: str
    decided_at: datetime


@dataclass(frozen=True)
class SupplementaryRow:
    clip_id: str
    branch_code: str
    business_serial: str
    staff_code: str
    customer_name: str
    product_name: str
    started_at: datetime
    sale_at: datetime | None
    why_supplementary: str
    state: str
    decided: Decided | None


def latest_decisions(db: Session, clip_ids: list[str]) -> dict[str, Decided]:
    if not clip_ids:
        return {}
    last = (
        select(func.max(SupplementaryApproval.id))
        .where(SupplementaryApproval.clip_id.in_(clip_ids))
        .group_by(SupplementaryApproval.clip_id)
    )
    rows = db.execute(select(SupplementaryApproval).where(SupplementaryApproval.id.in_(last))).scalars()
    return {
        r.clip_id: Decided(r.decision, r.decided_by, r.decided_as, r.reason, r.decided_at)
        for r in rows  # one per clip
    }


def state_of(db: Session, clip_id: str) -> str:
    found = latest_decisions(db, [clip_id]).get(clip_id)
    return found.state if found else PENDING


def _checked(decision: str, reason: str) -> str:
    if decision not in DECISIONS:
        raise SupplementaryError("请选择批准或驳回 / choose approve or reject")
    reason = reason.strip()
    if not reason:
        raise SupplementaryError("请填写审批意见 / give the reason for the decision")
    if len(reason) > 500:
        raise SupplementaryError("审批意见最多500字 / the reason is at most 500 characters")
    return reason


def record_branch_decision(
    db: Session,
    branch: Branch,
    clip_id: str,
    business_serial: str,
    decision: str,
    reason: str,
    decided_by: str,
    decided_at: datetime,
) -> tuple[str, str]:
    """(outcome, state): "taken" and the branch's decision, or "overruled" and the officer's."""
    reason = _checked(decision, reason)
    rec = db.execute(select(Recording).where(Recording.clip_id == clip_id)).scalar_one_or_none()
    if rec is not None and (rec.branch_id != branch.id or rec.origin != _SUPPLEMENTARY):
        raise SupplementaryError(
            f"录像 {clip_id} 不是本网点的事后补录 / {clip_id} is not a supplementary clip of the branch"
        )
    actor = f"branch:{branch.code}:{decided_by}"
    current = latest_decisions(db, [clip_id]).get(clip_id)
    detail: dict[str, object] = {"decision": decision, "reason": reason, "serial": business_serial, "by": decided_by}
    if current is not None and current.decided_as == BY_COMPLIANCE:
        audit.append(db, actor, "supplementary.branch_decision_overruled", clip_id, {**detail, "stands": current.state})
        return "overruled", current.state
    if current is not None and (current.decided_by, current.decided_at, current.state) == (
        decided_by,
        decided_at,
        decision,
    ):
        return "taken", decision  # the same decision sent again (the branch did not hear the answer)
    _add(db, branch.id, clip_id, business_serial, decision, reason, decided_by, BY_BRANCH, decided_at)
    audit.append(db, actor, f"supplementary.{decision}", clip_id, {**detail, "as": BY_BRANCH})
    return "taken", decision


def record_compliance_decision(db: Session, clip_id: str, decision: str, reason: str, username: str) -> str:
    reason = _checked(decision, reason)
    rec = db.execute(select(Recording).where(Recording.clip_id == clip_id)).scalar_one_or_none()
    if rec is None:
        raise SupplementaryError(f"无此录像 / no such recording: {clip_id}", 404)
    if rec.origin != _SUPPLEMENTARY:
        raise SupplementaryError("该录像不是事后补录，无需审批 / this recording is not a supplementary one", 409)
    before = state_of(db, clip_id)
    _add(db, rec.branch_id, clip_id, rec.business_serial, decision, reason, username, BY_COMPLIANCE, utcnow())
    audit.append(
        db,
        username,
        f"supplementary.{decision}",
        clip_id,
        {"reason": reason, "serial": rec.business_serial, "as": BY_COMPLIANCE, "before": before},
    )
    return decision


def _add(
    db: Session,
    branch_id: int,
    clip_id: str,
    serial: str,
    decision: str,
    reason: str,
    decided_by: str,
    decided_as: str,
    decided_at: datetime,
) -> None:
    db.add(
        SupplementaryApproval(
            clip_id=clip_id,
            branch_id=branch_id,
            business_serial=serial,
            decision=decision,
            reason=reason,
            decided_by=decided_by,
            decided_as=decided_as,
            decided_at=decided_at,
        )
    )
    db.flush()


def _why(manifest_json: str) -> str:
    try:
        return str(json.loads(manifest_json).get("supplementary", {}).get("reason", ""))
    except (ValueError, AttributeError):
        return ""


def listing(db: Session, state: str | None, branch_id: int | None) -> list[SupplementaryRow]:
    """The newest supplementary recordings (at most MAX_LISTED), with their approval state."""
    q = (
        select(Recording, Branch.code, Product.name)
        .join(Branch, Recording.branch_id == Branch.id)
        .join(Product, Recording.product_id == Product.id)
        .where(Recording.origin == _SUPPLEMENTARY)
        .order_by(Recording.started_at.desc(), Recording.id.desc())
        .limit(MAX_LISTED)
    )
    if branch_id is not None:
        q = q.where(Recording.branch_id == branch_id)
    found = list(db.execute(q).tuples())
    decided = latest_decisions(db, [rec.clip_id for rec, _, _ in found])
    rows = []
    for rec, branch_code, product_name in found:
        d = decided.get(rec.clip_id)
        row_state = d.state if d else PENDING
        if state and row_state != state:
            continue
        rows.append(
            SupplementaryRow(
                clip_id=rec.clip_id,
                branch_code=branch_code,
                business_serial=rec.business_serial,
                staff_code=rec.staff_code,
                customer_name=rec.customer_name,
                product_name=product_name,
                started_at=rec.started_at,
                sale_at=rec.sale_at,
                why_supplementary=_why(rec.manifest_json),
                state=row_state,
                decided=d,
            )
        )
    return rows
