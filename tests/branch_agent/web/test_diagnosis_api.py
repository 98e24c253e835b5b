"""The branch admin asks for a picture diagnosis now, and sets a camera's reference picture; a
relationship manager may do neither. The counter's status carries each camera's latest diagnosis."""

from __future__ import annotations

import time

from sqlalchemy import select

from branch_agent.db.models import LocalAudit
from tests.branch_agent.web.harness import ADMIN, COUNTER, RM_A, Agent, sign_in


def _wait_for_pictures(agent: Agent) -> None:
    sources = agent.svc.sources[COUNTER]
    deadline = time.monotonic() + 20
    while sources.environment.latest_frame() is None or sources.desk.latest_frame() is None:
        assert time.monotonic() < deadline, "the synthetic cameras produced no picture"
        time.sleep(0.05)


def test_diagnose_now_and_set_reference_are_the_branch_admins(agent: Agent) -> None:
    _wait_for_pictures(agent)
    rm = agent.client()
    rm_csrf = sign_in(rm, RM_A)
    assert rm.post("/api/admin/diagnosis", headers=rm_csrf).status_code == 403

    admin = agent.client()
    csrf = sign_in(admin, ADMIN)
    r = admin.post("/api/admin/diagnosis", headers=csrf)
    assert r.status_code == 200
    assert [(x["counter"], x["role"], x["findings"]) for x in r.get_json()["results"]] == [
        (COUNTER, "desk", []),
        (COUNTER, "environment", []),
    ]
    status = rm.get(f"/api/counters/{COUNTER}/status").get_json()
    by_role = {s["role"]: s for s in status["sources"]}
    assert by_role["environment"]["diagnosis"]["findings"] == [] and by_role["microphone"]["diagnosis"] is None

    r = admin.post(f"/api/admin/diagnosis/{COUNTER}/reference", json={"role": "desk"}, headers=csrf)
    assert r.status_code == 200 and r.get_json()["role"] == "desk"
    wrong = admin.post(f"/api/admin/diagnosis/{COUNTER}/reference", json={"role": "microphone"}, headers=csrf)
    assert wrong.status_code == 404 and "没有该摄像头" in wrong.get_json()["error"]
    with agent.svc.sessions() as db:
        lines = db.execute(
            select(LocalAudit.action, LocalAudit.target).where(LocalAudit.action == "diagnosis.reference")
        )
        assert [tuple(x) for x in lines] == [("diagnosis.reference", f"{COUNTER}/desk")]
