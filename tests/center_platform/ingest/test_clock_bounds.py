"""Retention never counts from a start time the center's own clock contradicts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from center_platform.db.models import AuditEvent, Branch, BranchHeartbeat, Recording
from center_platform.ingest.clock_bounds import ClockFacts, start_basis
from tests.center_platform.archive_rig import BRANCH_CODE, ArchiveRig, archive_rig  # noqa: F401

ARRIVED = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
MONTH = timedelta(days=30)


@pytest.mark.parametrize(
    ("started_at", "offset", "basis", "flagged"),
    [
        (ARRIVED - timedelta(hours=3), None, ARRIVED - timedelta(hours=3), False),  # an ordinary day
        (ARRIVED - timedelta(days=20), timedelta(seconds=2), ARRIVED - timedelta(days=20), False),  # offline a while
        (ARRIVED + timedelta(hours=2), None, ARRIVED + timedelta(hours=2), True),  # clock fast: later is kept
        (ARRIVED - timedelta(days=400), None, ARRIVED - MONTH, True),  # set back a year, no heartbeat
        # A slow clock the center measured at the last heartbeat: the start is corrected by it.
        (ARRIVED - timedelta(days=1, hours=1), timedelta(hours=1), ARRIVED - timedelta(days=1), True),
    ],
)
def test_start_basis(started_at: datetime, offset: timedelta | None, basis: datetime, flagged: bool) -> None:
    result = start_basis(ClockFacts(started_at, ARRIVED, offset, MONTH))
    assert result.basis == basis and bool(result.flags) == flagged


def test_a_backdated_clip_is_kept_from_no_earlier_than_its_arrival_allows(archive_rig: ArchiveRig) -> None:
    """A branch whose clock was set back two years: the clip says it was sold then, the center knows better."""
    claimed = datetime.now(UTC) - timedelta(days=730)
    archive_rig.app.extensions["center"].ingest.max_clip_age = MONTH  # the product's default
    honest = archive_rig.archive()
    backdated = archive_rig.archive(started_at=claimed)
    with archive_rig.sessions() as db:
        rows = {r.clip_id: r for r in db.execute(select(Recording)).scalars()}
        verified = {
            e.target: json.loads(e.detail)
            for e in db.execute(select(AuditEvent).where(AuditEvent.action == "ingest.verified")).scalars()
        }
    # Counted from the claimed day, the fixed-term product (90 days, then 2 years) would be kept only
    # about 90 more days; counted from no earlier than 30 days before arrival, about two years and two months.
    assert rows[backdated].retain_until > rows[honest].retain_until - timedelta(days=31)
    assert "not the branch's start time" in rows[backdated].retention_reason
    assert verified[backdated]["clock_flags"] and verified[honest]["clock_flags"] == []


def test_a_slow_branch_clock_seen_at_the_heartbeat_moves_the_start_later(archive_rig: ArchiveRig) -> None:
    now = datetime.now(UTC)
    plain = archive_rig.archive(started_at=now - timedelta(hours=1))  # before the branch's clock went wrong
    with archive_rig.sessions() as db:
        branch = db.execute(select(Branch).where(Branch.code == BRANCH_CODE)).scalar_one()
        # The branch's clock stood 100 days behind the center's at its last heartbeat.
        db.add(
            BranchHeartbeat(
                branch_id=branch.id,
                received_at=now,
                sent_at=now - timedelta(days=100),
                software_version="t",
                clock_offset_s=0.0,
                queued_clips=0,
                queued_bytes=0,
                alert_count=0,
                payload_json="{}",
            )
        )
        db.commit()
    slow = archive_rig.archive(started_at=now - timedelta(days=100, hours=1))
    with archive_rig.sessions() as db:
        rows = {r.clip_id: r for r in db.execute(select(Recording)).scalars()}
    # Kept as long as a clip honestly stamped an hour ago, not 100 days less.
    assert rows[slow].retain_until == rows[plain].retain_until
