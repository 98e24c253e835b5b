"""Central configuration of a branch: what the system admin sets, how it changes, what the branch said.

The upload window, bandwidth cap and recording limits change at once. The cameras go through four eyes
(`pending_changes`): whoever points a counter's environment camera at another stream, or at a test
pattern, decides what every later clip of that counter shows, as much as a signing key decides which
clips are believed. Each change raises the branch's version and is audited with before and after. The
branch judges every version with its own configuration rules and reports back; the report is kept
per branch, and a refusal (or a change of verdict) is audited once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from center_platform.admin import pending_changes as pc
from center_platform.admin.catalogue import Approval, CatalogueError
from center_platform.audit import trail as audit
from center_platform.db.config_models import BranchCentralConfig, BranchConfigReport
from center_platform.db.models import Branch, Counter, PendingChange
from storage.contract.central_config import (
    CentralConfig,
    CentralConfigReport,
    CentralCounter,
    CentralLimits,
    CentralUpload,
)
from storage.database import utcnow


@dataclass(frozen=True)
class ReportView:
    version: int
    state: str
    applied_version: int
    reason: str
    waiting_counters: list[str]
    reported_at: datetime


@dataclass(frozen=True)
class BranchConfigStatus:
    branch_code: str
    branch_name: str
    counters: list[str]  # enrolled at the center
    config: CentralConfig
    updated_by: str
    updated_at: datetime | None
    report: ReportView | None
    pending_change: int | None  # a camera change waiting for a second system admin

    @property
    def in_effect(self) -> bool:
        """The branch runs the newest version (nothing set centrally counts as in effect)."""
        if self.config.version == 0:
            return True
        return self.report is not None and self.report.applied_version == self.config.version

    def as_json(self) -> dict[str, Any]:
        report = None
        if self.report is not None:
            r = self.report
            report = {
                "version": r.version,
                "state": r.state,
                "applied_version": r.applied_version,
                "reason": r.reason,
                "waiting_counters": r.waiting_counters,
                "reported_at": r.reported_at.isoformat(),
            }
        return {
            "branch": self.branch_code,
            "name": self.branch_name,
            "counters": self.counters,
            "config": self.config.model_dump(mode="json"),
            "updated_by": self.updated_by,
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
            "report": report,
            "in_effect": self.in_effect,
            "pending_change": self.pending_change,
        }


def _branch(db: Session, code: str) -> Branch:
    b = db.execute(select(Branch).where(Branch.code == code)).scalar_one_or_none()
    if b is None:
        raise CatalogueError(f"没有网点 {code} / no branch {code}", 404, "branch")
    return b


def _row(db: Session, branch_id: int) -> BranchCentralConfig | None:
    return db.execute(
        select(BranchCentralConfig).where(BranchCentralConfig.branch_id == branch_id)
    ).scalar_one_or_none()


def central_config(db: Session, branch_id: int) -> CentralConfig:
    """What the branch pulls: version 0 and nothing set when the admin never configured it."""
    row = _row(db, branch_id)
    if row is None:
        return CentralConfig()
    return CentralConfig.model_validate({**json.loads(row.document_json), "version": row.version})


def _store(db: Session, actor: str, branch: Branch, new: CentralConfig, what: str, **extra: object) -> CentralConfig:
    before = central_config(db, branch.id)
    document = new.model_dump(mode="json", exclude={"version"})
    if document == before.model_dump(mode="json", exclude={"version"}):
        return before
    version = before.version + 1
    row = _row(db, branch.id)
    if row is None:
        row = BranchCentralConfig(branch_id=branch.id, version=version, document_json="{}", updated_by=actor)
        db.add(row)
    row.version = version
    row.document_json = json.dumps(document, ensure_ascii=False)
    row.updated_by = actor
    row.updated_at = utcnow()
    db.flush()
    audit.append(
        db,
        actor,
        "branch_config.changed",
        branch.code,
        {
            "what": what,
            "version": version,
            "before": before.model_dump(mode="json", exclude={"version"}),
            "after": document,
            **extra,
        },
    )
    return CentralConfig.model_validate({**document, "version": version})


def set_settings(
    db: Session, actor: str, branch_code: str, upload: CentralUpload, limits: CentralLimits
) -> CentralConfig:
    """Upload window, bandwidth cap and recording limits: applied at once (a field left empty keeps the
    branch file's value)."""
    b = _branch(db, branch_code)
    current = central_config(db, b.id)
    return _store(db, actor, b, current.model_copy(update={"upload": upload, "limits": limits}), "settings")


def _check_counters(db: Session, b: Branch, counters: list[CentralCounter]) -> None:
    known = set(db.execute(select(Counter.code).where(Counter.branch_id == b.id)).scalars())
    for c in counters:
        if c.code not in known:
            raise CatalogueError(
                f"网点 {b.code} 没有柜台 {c.code} / branch {b.code} has no counter {c.code}", 400, "counters"
            )


def _counters_json(counters: list[CentralCounter]) -> list[dict[str, Any]]:
    return [c.model_dump(mode="json", exclude_none=True) for c in counters]


def propose_cameras(
    db: Session, actor: str, branch_code: str, counters: list[CentralCounter], policy: pc.ApprovalPolicy
) -> dict[str, Any] | None:
    """A change of the counters' sources, as a proposal for a second system admin (None: no change)."""
    b = _branch(db, branch_code)
    _check_counters(db, b, counters)
    before = _counters_json(central_config(db, b.id).counters)
    after = _counters_json(counters)
    if before == after:
        return None
    return pc.propose(
        db,
        actor,
        pc.BRANCH_CAMERAS,
        b.code,
        payload={"counters": after},
        before={"counters": before},
        after={"counters": after},
        policy=policy,
    )


def apply_cameras(
    db: Session, approver: str, branch_code: str, payload: dict[str, Any], before: dict[str, Any], approval: Approval
) -> dict[str, Any]:
    """The approved camera change, if the cameras are still as the proposal found them."""
    b = _branch(db, branch_code)
    current = central_config(db, b.id)
    if _counters_json(current.counters) != before["counters"]:
        raise CatalogueError(
            f"{b.code} 的摄像机配置在提出后已被改动,请驳回后重新提出 / the cameras of {b.code} changed since "
            "the proposal; reject it and propose again",
            409,
        )
    try:
        counters = [CentralCounter.model_validate(c) for c in payload["counters"]]
    except ValidationError as exc:
        raise CatalogueError(f"proposal no longer valid: {exc.errors()[0]['msg']}", 409) from exc
    _check_counters(db, b, counters)
    new = _store(db, approver, b, current.model_copy(update={"counters": counters}), "cameras", **approval.audit())
    return {"version": new.version}


def record_report(db: Session, branch_id: int, branch_code: str, report: CentralConfigReport) -> None:
    """The branch's verdict on its configuration; a new verdict is one audit line."""
    row = db.execute(select(BranchConfigReport).where(BranchConfigReport.branch_id == branch_id)).scalar_one_or_none()
    changed = row is None or (row.version, row.state, row.reason) != (report.version, report.state, report.reason)
    if row is None:
        row = BranchConfigReport(branch_id=branch_id)
        db.add(row)
    row.version = report.version
    row.state = report.state
    row.applied_version = report.applied_version
    row.reason = report.reason
    row.waiting_counters_json = json.dumps(report.waiting_counters)
    row.reported_at = utcnow()
    if changed and report.version > 0:
        audit.append(
            db,
            f"branch:{branch_code}",
            f"branch_config.{report.state}",
            branch_code,
            report.model_dump(mode="json"),
        )
    db.flush()


def _pending_cameras(db: Session) -> dict[str, int]:
    rows = db.execute(
        select(PendingChange.target, PendingChange.id).where(
            PendingChange.kind == pc.BRANCH_CAMERAS, PendingChange.state == pc.PENDING
        )
    ).all()
    return {target: change_id for target, change_id in rows}


def statuses(db: Session, branch_code: str | None = None) -> list[BranchConfigStatus]:
    pc.expire_due(db)
    q = select(Branch).order_by(Branch.code)
    if branch_code is not None:
        q = q.where(Branch.code == branch_code)
    pending = _pending_cameras(db)
    out = []
    for b in db.execute(q).scalars():
        row = _row(db, b.id)
        rep = db.execute(select(BranchConfigReport).where(BranchConfigReport.branch_id == b.id)).scalar_one_or_none()
        counters = list(
            db.execute(select(Counter.code).where(Counter.branch_id == b.id).order_by(Counter.code)).scalars()
        )
        out.append(
            BranchConfigStatus(
                branch_code=b.code,
                branch_name=b.name,
                counters=counters,
                config=central_config(db, b.id),
                updated_by=row.updated_by if row else "",
                updated_at=row.updated_at if row else None,
                report=None
                if rep is None
                else ReportView(
                    rep.version,
                    rep.state,
                    rep.applied_version,
                    rep.reason,
                    json.loads(rep.waiting_counters_json),
                    rep.reported_at,
                ),
                pending_change=pending.get(b.code),
            )
        )
    if branch_code is not None and not out:
        raise CatalogueError(f"没有网点 {branch_code} / no branch {branch_code}", 404, "branch")
    return out
