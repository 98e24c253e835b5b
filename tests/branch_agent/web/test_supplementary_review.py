"""The branch admin's page lists the branch's supplementary recordings; a decision needs its reason, is
taken once, audited, and kept to be sent again while the center cannot be reached."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from branch_agent.db.models import LocalAudit
from branch_agent.db.supplementary_models import SupplementaryDecisionRow
from tests.branch_agent.web.harness import ADMIN, RM_A, Agent, sign_in
from tests.branch_agent.web.test_clip_import import make_mp4
from tests.test_supplementary_and_import import _supplementary_at_branch


def test_the_admin_decides_and_the_decision_waits_for_the_center(agent_without_cameras: Agent, tmp_path: Path) -> None:
    agent = agent_without_cameras
    sold_at = datetime.now(UTC) - timedelta(days=1)
    clip_id = _supplementary_at_branch(agent, "SN-SUPP-B1", sold_at, make_mp4(tmp_path / "c.mp4"))
    admin = agent.client()
    csrf = sign_in(admin, ADMIN)
    page = admin.get("/admin").get_data(as_text=True)
    assert 'id="supplementary_card"' in page and 'id="import_form"' in page and "admin_records.js" in page
    assert admin.get("/static/admin_records.js").status_code == 200

    [listed] = admin.get("/api/admin/supplementary").get_json()["clips"]
    assert (listed["clip_id"], listed["state"], listed["business_serial"]) == (clip_id, "pending", "SN-SUPP-B1")
    assert listed["why"].startswith("录像中断")

    r = admin.post(f"/api/admin/supplementary/{clip_id}/decision", json={"decision": "rejected"}, headers=csrf)
    assert r.status_code == 422 and r.get_json()["error"].startswith("请填写审批意见")
    r = admin.post(
        f"/api/admin/supplementary/{clip_id}/decision",
        json={"decision": "rejected", "reason": "客户未在录像中确认"},
        headers=csrf,
    )
    assert r.status_code == 200
    clip = r.get_json()["clip"]
    # The center is not reachable here: decided at the branch, kept to be sent.
    assert clip["state"] == "rejected" and clip["sent"] is False and "not yet at the center" in clip["center_note"]
    again = admin.post(
        f"/api/admin/supplementary/{clip_id}/decision", json={"decision": "approved", "reason": "x"}, headers=csrf
    )
    assert again.status_code == 409
    with agent.svc.sessions() as db:
        row = db.execute(select(SupplementaryDecisionRow)).scalar_one()
        assert (row.decision, row.decided_by, row.sent_at) == ("rejected", ADMIN.code, None) and row.send_error
        line = db.execute(select(LocalAudit).where(LocalAudit.action == "supplementary.rejected")).scalar_one()
        assert line.actor == ADMIN.code and json.loads(line.detail)["reason"] == "客户未在录像中确认"

    # A relationship manager neither sees nor decides.
    rm = agent.client()
    rm_csrf = sign_in(rm, RM_A)
    assert rm.get("/api/admin/supplementary").status_code == 403
    decided = {"decision": "approved", "reason": "x"}
    assert rm.post(f"/api/admin/supplementary/{clip_id}/decision", json=decided, headers=rm_csrf).status_code == 403
