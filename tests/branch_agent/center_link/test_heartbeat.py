"""The heartbeat against the real center: branch state stored, audit lines filed once with their origin."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
from datetime import timedelta

from sqlalchemy import func, select, update

from branch_agent.center_link.heartbeat import send_heartbeat
from branch_agent.db.models import COMPLETED, PENDING, QUARANTINED, Clip, LocalAudit
from branch_agent.sources import SourceHealth
from branch_agent.spool.clip_manifest import audit_local
from center_platform.audit import trail as audit
from center_platform.audit.query import DELETION_CERTIFICATE
from center_platform.db.models import AuditEvent, BranchHeartbeat
from storage.database import utcnow
from tests.live_center import BRANCH_CODE, LiveCenter, branch_agent_for, live_center  # noqa: F401


def _clip(clip_id: str, state: str, size: int, age: timedelta, error: str = "") -> Clip:
    return Clip(
        clip_id=clip_id,
        counter_code="C01",
        staff_code="1000001",
        business_serial=f"SN-{clip_id[:6]}",
        sale_json="{}",
        state=COMPLETED,
        media_path=f"/nonexistent/{clip_id}.mp4",
        started_at=utcnow() - age,
        size=size,
        upload_state=state,
        upload_error=error,
    )


def _center_branch_audit(center: LiveCenter) -> list[dict[str, object]]:
    with center.sessions() as db:
        rows = db.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars().all()
        return [
            {"actor": r.actor, "action": r.action, "target": r.target, **json.loads(r.detail)}
            for r in rows
            if json.loads(r.detail).get("origin") == "branch"
        ]


def test_heartbeat_reports_the_branch_and_files_its_audit_lines_once(live_center: LiveCenter, branch_agent_for) -> None:  # type: ignore[no-untyped-def]
    agent = branch_agent_for()
    svc = agent.svc
    with svc.sessions() as db:
        db.add(_clip("a" * 32, PENDING, 3_000_000, timedelta(hours=5)))
        db.add(_clip("b" * 32, PENDING, 2_000_000, timedelta(hours=1)))
        db.add(_clip("c" * 32, QUARANTINED, 1_000, timedelta(days=3), error="SHA-256 mismatch"))
        audit_local(db, "1000001", "login", "counter", {"ip": "10.0.0.5"})
        audit_local(db, "1000001", "recording.started", "a" * 32, {"serial": "SN-1"})
        db.commit()

    status = send_heartbeat(svc)
    assert status.ok and status.audit_lines_sent == 2, status

    with live_center.sessions() as db:
        row = db.execute(select(BranchHeartbeat)).scalar_one()
    beat = json.loads(row.payload_json)
    assert row.queued_clips == 2 and row.queued_bytes == 5_000_000
    assert beat["uploads"]["quarantined_clips"] == 1 and beat["uploads"]["last_error"] == "SHA-256 mismatch"
    # The oldest clip the center has not confirmed is the quarantined one: it is still only here.
    assert beat["uploads"]["oldest_unverified_clip_id"] == "c" * 32
    assert row.software_version == importlib.metadata.version("dual-recording")
    assert row.clock_offset_s == beat["clock_offset_s"] and abs(row.clock_offset_s) < 5
    assert beat["disk"]["total_bytes"] > beat["disk"]["free_bytes"] > 0
    [counter] = beat["counters"]
    assert counter["code"] == "C01" and [s["name"] for s in counter["sources"]] == [
        "C01-environment",
        "C01-desk",
        "C01-microphone",
    ]
    # Every health field, and what only the heartbeat adds: the role and the latest picture diagnosis.
    assert all(
        set(s) == {f.name for f in dataclasses.fields(SourceHealth)} | {"role", "diagnosis"} for s in counter["sources"]
    )
    assert [s["role"] for s in counter["sources"]] == ["environment", "desk", "microphone"]

    filed = _center_branch_audit(live_center)
    assert [(a["actor"], a["action"], a["target"], a["branch"]) for a in filed] == [
        (f"branch:{BRANCH_CODE}/1000001", "branch.login", "counter", BRANCH_CODE),
        (f"branch:{BRANCH_CODE}/1000001", "branch.recording.started", "a" * 32, BRANCH_CODE),
    ]
    assert (filed[1]["branch_actor"], filed[1]["branch_action"]) == ("1000001", "recording.started")
    assert filed[0]["detail"] == {"ip": "10.0.0.5"}
    with svc.sessions() as db:
        assert db.execute(select(func.count()).where(LocalAudit.sent_at.is_(None))).scalar_one() == 0

    # The receipt was lost (say): the branch sends the same lines again; the center files them once.
    with svc.sessions() as db:
        db.execute(update(LocalAudit).values(sent_at=None))
        db.commit()
    assert send_heartbeat(svc).audit_lines_sent == 2
    assert send_heartbeat(svc).audit_lines_sent == 0
    assert len(_center_branch_audit(live_center)) == 2
    with live_center.sessions() as db:
        assert audit.verify_chain(db) == []
        assert db.execute(select(func.count()).select_from(BranchHeartbeat)).scalar_one() == 1


def test_undelivered_heartbeat_keeps_audit_lines_queued(live_center: LiveCenter, branch_agent_for) -> None:  # type: ignore[no-untyped-def]
    agent = branch_agent_for()
    with agent.svc.sessions() as db:
        audit_local(db, "1000001", "login", "counter")
        db.commit()
    live_center.stop()
    status = send_heartbeat(agent.svc)
    assert not status.ok and "unreachable" in status.error
    with agent.svc.sessions() as db:
        assert db.execute(select(func.count()).where(LocalAudit.sent_at.is_(None))).scalar_one() == 1


def test_heartbeat_endpoint_refuses_unsigned_and_malformed_requests(live_center: LiveCenter, branch_agent_for) -> None:  # type: ignore[no-untyped-def]
    import requests

    r = requests.post(live_center.url + "/api/branch/v1/heartbeat", json={}, timeout=10)
    assert r.status_code == 401
    agent = branch_agent_for()
    from branch_agent.center_link.client import CenterRefused

    try:
        agent.svc.client._send("POST", "/api/branch/v1/heartbeat", {"sent_at": "yesterday"})
    except CenterRefused as exc:
        assert exc.status == 400 and "heartbeat" in str(exc)
    else:
        raise AssertionError("a malformed heartbeat was accepted")


def test_branch_lines_cannot_pose_as_center_actions(live_center: LiveCenter, branch_agent_for) -> None:  # type: ignore[no-untyped-def]
    """A branch (or whoever holds its secret) writing a forged deletion certificate or a replay by a
    center user gets both filed as branch-originated lines, never as the center's own."""
    agent = branch_agent_for()
    with agent.svc.sessions() as db:
        audit_local(db, "compliance", DELETION_CERTIFICATE, "f" * 32, {"sha256": "00" * 32})
        audit_local(db, "auditor", "recording.replayed", "f" * 32)
        db.commit()
    assert send_heartbeat(agent.svc).audit_lines_sent == 2
    with live_center.sessions() as db:
        rows = db.execute(select(AuditEvent).where(AuditEvent.target == "f" * 32)).scalars().all()
        certificates = db.execute(select(AuditEvent).where(AuditEvent.action == DELETION_CERTIFICATE)).scalars().all()
    assert [(r.actor, r.action) for r in rows] == [
        (f"branch:{BRANCH_CODE}/compliance", f"branch.{DELETION_CERTIFICATE}"),
        (f"branch:{BRANCH_CODE}/auditor", "branch.recording.replayed"),
    ]
    assert certificates == []
