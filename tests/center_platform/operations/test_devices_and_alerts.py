"""Devices of a branch at the center from its heartbeats, and the alerts they raise and clear."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import requests
from sqlalchemy import select

from branch_agent.center_link.heartbeat import send_heartbeat
from center_platform.config import AlertsSection
from center_platform.db.models import AuditEvent, Branch
from center_platform.db.operations_models import Alert, DeviceStatusChange
from center_platform.operations.devices import branch_devices
from center_platform.operations.heartbeats import record_heartbeat
from storage.contract.heartbeat import Heartbeat
from tests.branch_agent.web.harness import Agent
from tests.center_platform.archive_rig import BRANCH_CODE as RIG_BRANCH
from tests.center_platform.archive_rig import ArchiveRig, archive_rig  # noqa: F401
from tests.live_center import BRANCH_CODE, CENTER_PASSWORD, LiveCenter, branch_agent_for, live_center  # noqa: F401


def _wait_for_pictures(agent: Agent) -> None:
    sources = agent.svc.sources["C01"]
    deadline = time.monotonic() + 20
    while any(h.last_frame_age_s is None for h in sources.health()):
        assert time.monotonic() < deadline, "the synthetic sources delivered nothing"
        time.sleep(0.05)


def _alerts(ops: requests.Session, url: str, cleared: bool = False) -> list[dict[str, Any]]:
    return ops.get(url + "/api/operations/alerts" + ("?cleared=1" if cleared else ""), timeout=10).json()["alerts"]


def test_cameras_down_at_a_branch_raise_one_alert_each_after_two_heartbeats_and_clear_when_back(
    live_center: LiveCenter,
    branch_agent_for: Callable[..., Agent],
) -> None:
    agent = branch_agent_for()  # cameras built, not opened: every source is offline
    ops = requests.Session()
    signed_in = ops.post(live_center.url + "/api/session", json={"username": "compliance", "password": CENTER_PASSWORD})
    csrf = {"X-CSRF-Token": signed_in.json()["csrf_token"]}
    assert send_heartbeat(agent.svc).ok
    devices = ops.get(live_center.url + "/api/operations/devices", timeout=10).json()["devices"]
    assert {(d["counter_code"], d["role"], d["status"]) for d in devices} == {
        ("C01", "environment", "offline"),
        ("C01", "desk", "offline"),
        ("C01", "microphone", "offline"),
    }
    # Seen once: not yet an alert (a restarting camera must not page anybody).
    assert _alerts(ops, live_center.url) == []
    assert send_heartbeat(agent.svc).ok
    raised = _alerts(ops, live_center.url)
    assert sorted(a["subject"] for a in raised) == [
        f"{BRANCH_CODE}/C01/{r}" for r in ("desk", "environment", "microphone")
    ]
    assert {a["kind"] for a in raised} == {"device_offline"} and {a["state"] for a in raised} == {"raised"}
    # A third beat with the same cameras down is the same alerts, counted again.
    assert send_heartbeat(agent.svc).ok
    again = _alerts(ops, live_center.url)
    assert [a["id"] for a in again] == [a["id"] for a in raised] and {a["occurrences"] for a in again} == {3}

    desk = next(a for a in again if a["subject"].endswith("/desk"))
    r = ops.post(
        live_center.url + f"/api/operations/alerts/{desk['id']}/acknowledge",
        json={"note": "已派人 on the way"},
        headers=csrf,
        timeout=10,
    )
    assert r.status_code == 200 and r.json()["state"] == "acknowledged" and r.json()["acknowledged_by"] == "compliance"

    agent.svc.sources["C01"].open()
    try:
        _wait_for_pictures(agent)
        assert send_heartbeat(agent.svc).ok
        assert len(_alerts(ops, live_center.url)) == 3  # one good beat is not yet a recovery
        assert send_heartbeat(agent.svc).ok
    finally:
        agent.svc.sources["C01"].close()
    assert _alerts(ops, live_center.url) == []
    cleared = _alerts(ops, live_center.url, cleared=True)
    assert {a["state"] for a in cleared} == {"cleared"} and {a["cleared_by"] for a in cleared} == {"system"}

    page = ops.get(live_center.url + "/operations/devices", timeout=10)
    assert page.status_code == 200 and 'data-device="C01/environment" data-status="ok"' in page.text
    with live_center.sessions() as db:
        history = db.execute(
            select(DeviceStatusChange.status_from, DeviceStatusChange.status_to)
            .where(DeviceStatusChange.device_key == "C01/environment")
            .order_by(DeviceStatusChange.id)
        ).all()
        assert [tuple(h) for h in history] == [("", "offline"), ("offline", "ok")]
        actions = db.execute(
            select(AuditEvent.action, AuditEvent.target).where(AuditEvent.action.like("alert.%"))
        ).all()
        desk_id = f"alert:{desk['id']}"
        assert [a for a, t in actions if t == desk_id] == ["alert.raised", "alert.acknowledged", "alert.cleared"]
        assert db.execute(select(Alert).where(Alert.open_key.is_not(None))).first() is None


def test_an_older_branch_heartbeat_and_gb_devices_fill_the_device_view(archive_rig: ArchiveRig) -> None:
    # What an agent from before the device view sends: no role, no identity, no diagnosis.
    source = {"connected": True, "last_frame_age_s": 0.1, "fps": 25.0, "errors": 0, "reconnects": 0, "detail": ""}
    beat = {
        "sent_at": "2026-12-04T10:00:00Z",
        "software_version": "0.9",
        "clock_offset_s": 0.2,
        "counters": [
            {"code": "C01", "recording": False, "sources": [{**source, "name": n} for n in ("env", "desk", "mic")]}
        ],
        "disk": {"total_bytes": 10, "free_bytes": 5, "spool_bytes": 1, "daily_bytes": 1.0, "days_left": 5.0},
        "uploads": {
            "queued_clips": 0,
            "queued_bytes": 0,
            "quarantined_clips": 0,
            "last_success_at": None,
            "oldest_unverified_clip_id": None,
            "oldest_unverified_at": None,
        },
        "gb28181": {
            "server_id": "34020000002000000001",
            "running": True,
            "devices": [
                {
                    "device_id": "34020000001320000001",
                    "online": False,
                    "transport": "udp",
                    "address": "10.0.0.9:5060",
                    "offline_reason": "keepalive missed",
                    "channels": [{"channel_id": "34020000001310000001", "name": "柜台1", "status": "ON"}],
                }
            ],
        },
    }
    now = datetime(2026, 12, 4, 10, 0, 1, tzinfo=UTC)
    with archive_rig.sessions() as db:
        branch_id = db.execute(select(Branch.id).where(Branch.code == RIG_BRANCH)).scalar_one()
        record_heartbeat(db, branch_id, RIG_BRANCH, Heartbeat.model_validate(beat), now, AlertsSection())
        rows = {d.device_key: d for d in branch_devices(db, branch_id)}
    assert {k: (r.role, r.status) for k, r in rows.items()} == {
        "C01/environment": ("environment", "ok"),
        "C01/desk": ("desk", "ok"),
        "C01/microphone": ("microphone", "ok"),
        "gb/34020000001320000001": ("gb_device", "offline"),
        # A channel of a device that is offline is offline, whatever it said before.
        "gb/34020000001320000001/34020000001310000001": ("gb_channel", "offline"),
    }
    assert "keepalive missed" in rows["gb/34020000001320000001"].problem

    # The microphone now loses sound while recording: degraded, not OK, and an alert's condition.
    beat["counters"][0]["sources"][2] |= {"dropped": 4012, "dropped_recent": 180, "role": "microphone"}  # type: ignore[index]
    with archive_rig.sessions() as db:
        for n in (2, 3):
            record_heartbeat(
                db, branch_id, RIG_BRANCH, Heartbeat.model_validate(beat), now.replace(second=n), AlertsSection()
            )
        mic = {d.device_key: d for d in branch_devices(db, branch_id)}["C01/microphone"]
        assert mic.status == "degraded" and "180" in mic.problem and "丢失" in mic.problem
        alert = db.execute(select(Alert).where(Alert.subject == f"{RIG_BRANCH}/C01/microphone")).scalar_one()
        assert (alert.kind, alert.state) == ("device_degraded", "raised")
    page = archive_rig.login("compliance").get("/operations/devices")
    assert page.status_code == 200 and 'data-device="gb/34020000001320000001" data-status="offline"' in page.text
    missing = archive_rig.login("compliance").get(f"/operations/devices/{RIG_BRANCH}/C09/desk")
    assert missing.status_code == 404 and "设备不存在 / no such device" in missing.get_data(as_text=True)
