"""Cancelled takes and the upload backlog reach the center in the heartbeat and count in reconciliation."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select

from branch_agent.center_link.heartbeat import build_heartbeat, send_heartbeat
from branch_agent.db.models import CANCELLED, COMPLETED, PENDING, Clip, LocalAudit
from branch_agent.spool.clip_manifest import audit_local
from center_platform.db.reconciliation_models import CancelledTake, QueuedTake
from storage.contract.heartbeat import Heartbeat
from storage.database import utcnow
from tests.live_center import LiveCenter, branch_agent_for, live_center  # noqa: F401


def _clip(clip_id: str, serial: str, state: str, upload_state: str | None) -> Clip:
    return Clip(
        clip_id=clip_id,
        counter_code="C01",
        staff_code="1000001",
        business_serial=serial,
        sale_json=json.dumps({"product_code": "P-90"}),
        state=state,
        media_path=f"/nonexistent/{clip_id}.mp4",
        started_at=utcnow() - timedelta(hours=1),
        upload_state=upload_state,
    )


def test_cancelled_and_queued_takes_reach_the_center(live_center: LiveCenter, branch_agent_for) -> None:  # type: ignore[no-untyped-def]
    agent = branch_agent_for()
    with agent.svc.sessions() as db:
        db.add(_clip("a" * 32, "SN-CANCEL", CANCELLED, None))
        db.add(_clip("b" * 32, "SN-QUEUED", COMPLETED, PENDING))
        audit_local(db, "1000001", "recording.cancelled", "a" * 32, {"reason": "客户改期 customer postponed"})
        db.commit()
    beat = build_heartbeat(agent.svc, utcnow())
    assert [c.business_serial for c in beat.cancelled] == ["SN-CANCEL"]
    assert [q.business_serial for q in beat.queued or []] == ["SN-QUEUED"]
    # An older agent's heartbeat (neither list) still validates.
    old = beat.model_dump(mode="json")
    del old["cancelled"], old["queued"]
    assert Heartbeat.model_validate(old).queued is None

    assert send_heartbeat(agent.svc).ok
    assert send_heartbeat(agent.svc).ok  # the cancel line is acknowledged: not sent twice, nor stored twice
    with live_center.sessions() as db:
        [take] = db.execute(select(CancelledTake)).scalars().all()
        assert (take.business_serial, take.reason, take.product_code) == (
            "SN-CANCEL",
            "客户改期 customer postponed",
            "P-90",
        )
        assert [q.business_serial for q in db.execute(select(QueuedTake)).scalars()] == ["SN-QUEUED"]
    with agent.svc.sessions() as db:
        assert db.execute(select(LocalAudit.sent_at).where(LocalAudit.target == "a" * 32)).scalar_one() is not None
