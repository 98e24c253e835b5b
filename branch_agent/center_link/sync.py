"""Pulls products, staff and this branch's settings from the center, each with its ETag (If-None-Match).

A resource is replaced only when the center sends a new version, in one transaction with its ETag;
a failed pull leaves the local copy as it was and records why, for the status page and the heartbeat.
The center's view of the branch is shown and compared with the configuration file, never applied:
the file is what the devices run on.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from branch_agent.center_link.client import CenterClient, CenterRefused, CenterUnavailable
from branch_agent.config import BranchConfig
from branch_agent.db.models import CenterBranchView, SyncedProduct, SyncedStaff, SyncState
from storage.config_file import describe_validation_error
from storage.contract import routes
from storage.contract.branch_sync import BranchConfigView, CatalogPayload, CounterView, StaffPayload
from storage.contract.heartbeat import SyncReport
from storage.database import utcnow

log = logging.getLogger(__name__)

PRODUCTS, STAFF, BRANCH = "products", "staff", "branch"
P = TypeVar("P", bound=BaseModel)


@dataclass(frozen=True)
class SyncOutcome:
    resource: str
    changed: bool
    error: str = ""


def _apply_products(db: Session, payload: CatalogPayload) -> None:
    db.execute(delete(SyncedProduct))
    for p in payload.products:
        db.add(
            SyncedProduct(
                code=p.code,
                name=p.name,
                type_code=p.type_code,
                type_name=p.type_name,
                term_days=p.term_days,
                risk_level=p.risk_level,
                disclosure_script=p.disclosure_script,
                required_markers=json.dumps(p.required_markers, ensure_ascii=False),
                min_duration_s=p.min_duration_s,
            )
        )


def _apply_staff(db: Session, payload: StaffPayload) -> None:
    db.execute(delete(SyncedStaff))
    for s in payload.staff:
        db.add(SyncedStaff(code=s.code, name=s.name, role=s.role, password_hash=s.password_hash))


def _apply_branch(db: Session, payload: BranchConfigView) -> None:
    db.execute(delete(CenterBranchView))
    db.add(
        CenterBranchView(
            code=payload.code,
            name=payload.name,
            timezone=payload.timezone,
            counters_json=json.dumps([c.model_dump() for c in payload.counters], ensure_ascii=False),
        )
    )


@dataclass(frozen=True)
class _Resource(Generic[P]):
    """Where a synced resource comes from, the contract model its reply must fit, how it is stored here."""

    path: str
    model: type[P]
    apply: Callable[[Session, P], None]


_RESOURCES: dict[str, _Resource[Any]] = {
    PRODUCTS: _Resource(routes.CATALOG, CatalogPayload, _apply_products),
    STAFF: _Resource(routes.STAFF, StaffPayload, _apply_staff),
    BRANCH: _Resource(routes.BRANCH, BranchConfigView, _apply_branch),
}
RESOURCE_PATHS = {name: spec.path for name, spec in _RESOURCES.items()}


def _state(db: Session, resource: str) -> SyncState:
    row = db.execute(select(SyncState).where(SyncState.resource == resource)).scalar_one_or_none()
    if row is None:
        row = SyncState(resource=resource, error="")
        db.add(row)
    return row


class CenterSync:
    def __init__(self, sessions: sessionmaker[Session], client: CenterClient) -> None:
        self.sessions = sessions
        self.client = client

    def run(self) -> list[SyncOutcome]:
        """Every resource on its own: one refused pull does not hold back the others."""
        return [self.pull(resource) for resource in RESOURCE_PATHS]

    def pull(self, resource: str) -> SyncOutcome:
        return self._pull(resource, _RESOURCES[resource])

    def _pull(self, resource: str, spec: _Resource[P]) -> SyncOutcome:
        with self.sessions() as db:
            etag = _state(db, resource).etag
        attempted = utcnow()
        try:
            reply = self.client.fetch_versioned(spec.path, etag)
            payload = None if reply is None else spec.model.model_validate(reply.payload)
        except (CenterUnavailable, CenterRefused) as exc:
            return self._failed(resource, attempted, str(exc))
        except ValidationError as exc:
            return self._failed(resource, attempted, describe_validation_error(f"the center's {resource}", exc))
        with self.sessions() as db:
            state = _state(db, resource)
            if reply is not None and payload is not None:
                spec.apply(db, payload)
                state.etag = reply.etag
            state.synced_at = state.attempted_at = attempted
            state.error = ""
            db.commit()
        if reply is not None:
            log.info("synced %s from the center (version %s)", resource, reply.etag)
        return SyncOutcome(resource, changed=reply is not None)

    def _failed(self, resource: str, attempted: datetime, message: str) -> SyncOutcome:
        log.warning("sync of %s failed, the local copy stays in use: %s", resource, message)
        with self.sessions() as db:
            state = _state(db, resource)
            state.attempted_at = attempted
            state.error = message[:2000]
            db.commit()
        return SyncOutcome(resource, changed=False, error=message)


def sync_reports(sessions: sessionmaker[Session]) -> list[SyncReport]:
    with sessions() as db:
        rows = {r.resource: r for r in db.execute(select(SyncState)).scalars()}
    out = []
    for resource in RESOURCE_PATHS:
        r = rows.get(resource)
        out.append(
            SyncReport(
                resource=resource,
                etag=r.etag if r else None,
                synced_at=r.synced_at if r else None,
                attempted_at=r.attempted_at if r else None,
                error=r.error if r else "",
            )
        )
    return out


def center_branch_view(sessions: sessionmaker[Session]) -> BranchConfigView | None:
    with sessions() as db:
        row = db.execute(select(CenterBranchView)).scalar_one_or_none()
    if row is None:
        return None
    counters = [CounterView.model_validate(c) for c in json.loads(row.counters_json)]
    return BranchConfigView(code=row.code, name=row.name, timezone=row.timezone, counters=counters)


def config_mismatches(config: BranchConfig, center: BranchConfigView) -> list[str]:
    """Where the configuration file and the center disagree; each line names both values."""
    out = []
    if center.code != config.branch.code:
        out.append(f"网点代码 branch code: 本机 file {config.branch.code} ≠ 中心 center {center.code}")
    if center.name != config.branch.name:
        out.append(f"网点名称 branch name: 本机 file {config.branch.name} ≠ 中心 center {center.name}")
    if center.timezone != config.branch.timezone:
        out.append(f"时区 time zone: 本机 file {config.branch.timezone} ≠ 中心 center {center.timezone}")
    local = {c.code for c in config.counters}
    remote = {c.code for c in center.counters}
    if local - remote:
        out.append(f"柜台 counters only in the file (not enrolled at the center): {', '.join(sorted(local - remote))}")
    if remote - local:
        out.append(f"柜台 counters enrolled at the center but not in the file: {', '.join(sorted(remote - local))}")
    return out
