"""The operations uploads view: what each branch has queued, failed and reported, for the roles allowed."""

from __future__ import annotations

from datetime import timedelta

import requests
from sqlalchemy import select

from branch_agent.center_link.heartbeat import send_heartbeat
from branch_agent.db.models import COMPLETED, PENDING, Clip
from center_platform.db.models import Branch, IngestUpload
from storage.database import utcnow
from tests.live_center import BRANCH_CODE, LiveCenter, branch_agent_for, live_center  # noqa: F401


def test_uploads_view_per_branch_from_heartbeat_and_ingest(live_center: LiveCenter, branch_agent_for) -> None:  # type: ignore[no-untyped-def]
    agent = branch_agent_for()
    with agent.svc.sessions() as db:
        db.add(
            Clip(
                clip_id="d" * 32,
                counter_code="C01",
                staff_code="1000001",
                business_serial="SN-D",
                sale_json="{}",
                state=COMPLETED,
                media_path="/nonexistent/d.mp4",
                started_at=utcnow() - timedelta(hours=2),
                size=7_340_032,
                upload_state=PENDING,
                upload_error="center at http://x unreachable",
            )
        )
        db.commit()
    with live_center.sessions() as db:
        branch_id = db.execute(select(Branch.id).where(Branch.code == BRANCH_CODE)).scalar_one()
        db.add(
            IngestUpload(
                clip_id="e" * 32,
                branch_id=branch_id,
                manifest_json="{}",
                object_key="k",
                size=1,
                part_size=1,
                state="quarantined",
                reason="SHA-256 of the stored object differs from the manifest",
            )
        )
        db.commit()

    ops = live_center.login("compliance")
    [before] = ops.get(live_center.url + "/api/operations/uploads", timeout=10).json()["branches"]
    assert before["last_heartbeat_at"] is None and before["heartbeat_late"] and before["queued_clips"] is None

    assert send_heartbeat(agent.svc).ok
    [row] = ops.get(live_center.url + "/api/operations/uploads", timeout=10).json()["branches"]
    assert row["branch_code"] == BRANCH_CODE and row["queued_clips"] == 1 and row["queued_bytes"] == 7_340_032
    assert row["quarantined_clips"] == 1 and "SHA-256" in row["last_quarantine_reason"]
    assert row["last_branch_error"] == "center at http://x unreachable"
    assert not row["heartbeat_late"] and 0 <= row["heartbeat_age_s"] < 180
    assert row["clock_offset_s"] is not None and row["last_success_at"] is None
    page = ops.get(live_center.url + "/operations/uploads", timeout=10)
    assert page.status_code == 200
    assert f'data-branch="{BRANCH_CODE}"' in page.text and "7.0 MB" in page.text and "SHA-256" in page.text


def test_uploads_view_is_for_system_admins_and_compliance_only(live_center: LiveCenter) -> None:
    assert requests.get(live_center.url + "/api/operations/uploads", timeout=10).status_code == 401
    r = requests.get(live_center.url + "/operations/uploads", timeout=10, allow_redirects=False)
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    auditor = live_center.login("auditor")
    assert auditor.get(live_center.url + "/api/operations/uploads", timeout=10).status_code == 403
    assert auditor.get(live_center.url + "/operations/uploads", timeout=10).status_code == 403
    for user in ("sysadmin", "compliance"):
        assert live_center.login(user).get(live_center.url + "/api/operations/uploads", timeout=10).status_code == 200
