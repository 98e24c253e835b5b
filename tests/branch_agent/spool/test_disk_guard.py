"""Disk guard: below the free-space limit the counter refuses to record and the center hears about it.

The limit is set above this disk's free space; the disk itself is never filled.
"""

from __future__ import annotations

import logging
import shutil

from sqlalchemy import func, select

from branch_agent.center_link.heartbeat import send_heartbeat
from branch_agent.config import SpoolSection
from branch_agent.db.models import Clip, LocalAudit
from branch_agent.spool.disk_forecast import DiskForecast
from branch_agent.spool.disk_guard import find_shortage
from tests.branch_agent.web.harness import COUNTER, GOOD_SALE, Staff, sign_in
from tests.live_center import RM_CODE, RM_PASSWORD, LiveCenter, branch_agent_for, live_center  # noqa: F401

RM = Staff(RM_CODE, RM_PASSWORD, "李经理", "relationship_manager")


def test_low_disk_refuses_recording_and_alerts_the_center(
    live_center: LiveCenter, branch_agent_for, tmp_path, caplog
) -> None:  # type: ignore[no-untyped-def]
    free_gb = shutil.disk_usage(tmp_path).free / 1e9
    agent = branch_agent_for(min_free_gb=round(free_gb + 1000))
    agent.svc.sync_from_center()
    client = agent.client()
    csrf = sign_in(client, RM)

    r = client.post(f"/api/counters/{COUNTER}/recording", json=GOOD_SALE, headers=csrf)
    assert r.status_code == 409
    assert "磁盘空间不足" in r.get_json()["error"] and "disk is low" in r.get_json()["error"]
    with agent.svc.sessions() as db:
        assert db.execute(select(func.count()).select_from(Clip)).scalar_one() == 0
        assert db.execute(select(LocalAudit.action).where(LocalAudit.action == "recording.refused")).scalar_one()

    caplog.set_level(logging.WARNING, logger="center_platform.operations.heartbeats")
    assert send_heartbeat(agent.svc).ok
    assert any(
        rec.levelno == logging.WARNING and "disk_low" in rec.getMessage() and "B001" in rec.getMessage()
        for rec in caplog.records
    )

    ops = live_center.login("sysadmin")
    [branch] = ops.get(live_center.url + "/api/operations/uploads", timeout=10).json()["branches"]
    assert [a["code"] for a in branch["alerts"]] == ["disk_low"]
    page = ops.get(live_center.url + "/operations/uploads", timeout=10)
    assert page.status_code == 200 and 'data-alert="disk_low"' in page.text and "磁盘空间不足" in page.text


def test_days_left_limit_counts_only_when_there_is_a_rate() -> None:
    limits = SpoolSection(min_free_gb=0, min_days_left=3)
    disk = DiskForecast(total_bytes=10**12, free_bytes=10**11, spool_bytes=0, daily_bytes=5 * 10**10, days_left=2.0)
    shortage = find_shortage(limits, disk)
    assert shortage is not None and "2.0" in shortage.message and "天" in shortage.message
    assert find_shortage(limits, DiskForecast(10**12, 10**11, 0, 0.0, None)) is None  # nothing recorded lately
    assert find_shortage(SpoolSection(min_free_gb=0, min_days_left=0), disk) is None
