"""The branch's manifest chain as the center sees it.

Each manifest names the SHA-256 of the branch's previous one, so a branch cannot drop or rewrite a
clip without it showing. Clips arrive out of order (a failed upload is retried the next night), so a
predecessor the center does not hold yet is not an error: the clip is catalogued as *awaiting* and
linked when the predecessor arrives. Two clips naming the same predecessor are a fork: the branch's
history was rewritten, and the second one is quarantined for someone to look at. The catalogue's unique
key on (branch, predecessor) settles two forks completing at the same moment. A clip that starts a new
chain when the branch already has one is a *restart*: catalogued, flagged, counted in operations.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session

from center_platform.db.models import IngestUpload, Recording
from storage.manifest import ClipManifest

log = logging.getLogger(__name__)

FIRST, LINKED, AWAITING, RESTARTED = "first", "linked", "awaiting", "restarted"


@dataclass(frozen=True)
class ChainCheck:
    status: str  # first | linked | awaiting | restarted, when problem is empty
    problem: str = ""  # why the clip must be quarantined
    note: str = ""  # worth an operator's attention, not a reason to refuse


def check_chain(session: Session, branch_id: int, manifest: ClipManifest) -> ChainCheck:
    prev = manifest.prev_manifest_sha256
    if prev is None:
        # A chain starts once per branch. Starting again (a reinstalled agent, a lost spool database, or
        # someone hiding the clips in between) is accepted as evidence but flagged for operations.
        earlier = session.execute(
            select(Recording.clip_id).where(Recording.branch_id == branch_id).order_by(Recording.id).limit(1)
        ).scalar_one_or_none()
        if earlier is None:
            return ChainCheck(FIRST)
        return ChainCheck(
            RESTARTED, note=f"the branch's manifest chain starts again (it started before with clip {earlier})"
        )
    sibling = session.execute(
        select(Recording.clip_id)
        .where(
            Recording.branch_id == branch_id,
            Recording.prev_manifest_sha256 == prev,
            Recording.clip_id != manifest.clip_id,
        )
        .limit(1)
    ).scalar_one_or_none()
    if sibling is not None:
        return ChainCheck("", problem=f"manifest chain fork: clip {sibling} already follows manifest {prev}")
    predecessor = session.execute(
        select(Recording.branch_id).where(Recording.manifest_sha256 == prev)
    ).scalar_one_or_none()
    if predecessor is not None and predecessor != branch_id:
        return ChainCheck("", problem=f"manifest chain names manifest {prev}, which belongs to another branch")
    if predecessor is None:
        return ChainCheck(AWAITING, note=f"its predecessor {prev} has not reached the archive yet")
    return ChainCheck(LINKED)


def link_successors(session: Session, branch_id: int, manifest_sha256: str) -> int:
    """Clips catalogued before this one arrived, waiting for it, are now linked."""
    result = session.execute(
        update(Recording)
        .where(
            Recording.branch_id == branch_id,
            Recording.prev_manifest_sha256 == manifest_sha256,
            Recording.chain_status == AWAITING,
        )
        .values(chain_status=LINKED)
    )
    # Session.execute is typed for queries; an UPDATE answers with a CursorResult, which counts rows.
    assert isinstance(result, CursorResult)
    return int(result.rowcount or 0)


def awaiting_predecessors(session: Session, branch_id: int) -> list[str]:
    """Predecessors named by catalogued clips and still missing: each is a clip the branch has not sent (yet)."""
    held = select(Recording.manifest_sha256).where(Recording.branch_id == branch_id)
    quarantined = select(IngestUpload.clip_id).where(
        IngestUpload.branch_id == branch_id, IngestUpload.state == "quarantined"
    )
    rows = session.execute(
        select(Recording.prev_manifest_sha256).where(
            Recording.branch_id == branch_id,
            Recording.chain_status == AWAITING,
            Recording.prev_manifest_sha256.not_in(held),
            Recording.clip_id.not_in(quarantined),
        )
    ).scalars()
    return sorted({r for r in rows if r})


def chain_restarts(session: Session, branch_id: int) -> int:
    return int(
        session.execute(
            select(func.count()).where(Recording.branch_id == branch_id, Recording.chain_status == RESTARTED)
        ).scalar_one()
    )
