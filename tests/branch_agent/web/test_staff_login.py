"""Sign-in: audit of every outcome, lockout that survives a restart, CSRF, idle timeout, bootstrap admin."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from branch_agent.db.models import LocalAudit, StaffLoginState, SyncedStaff
from branch_agent.web.staff_bootstrap import BootstrapRefused, bootstrap_admin
from storage.database import utcnow
from tests.branch_agent.web.harness import (
    ADMIN,
    COUNTER,
    GOOD_SALE,
    RM_A,
    RM_B,
    Agent,
    seed,
    sign_in,
    start_agent,
    write_config,
)


def _audit(agent: Agent, action: str) -> list[LocalAudit]:
    with agent.svc.sessions() as db:
        return list(db.execute(select(LocalAudit).where(LocalAudit.action == action).order_by(LocalAudit.id)).scalars())


def _login(client, code: str, password: str):  # type: ignore[no-untyped-def]
    return client.post("/api/session", json={"staff_code": code, "password": password})


def test_sign_in_and_out_are_audited_and_the_session_knows_who(agent_without_cameras: Agent) -> None:
    client = agent_without_cameras.client()
    assert client.get("/api/session").status_code == 401
    r = _login(client, RM_A.code, RM_A.password)
    assert r.status_code == 200
    me = r.get_json()
    assert (me["staff_code"], me["role"], me["name"]) == (RM_A.code, "relationship_manager", RM_A.name)
    assert client.get("/api/session").get_json()["csrf_token"] == me["csrf_token"]
    assert [a.actor for a in _audit(agent_without_cameras, "login")] == [RM_A.code]
    assert client.delete("/api/session", headers={"X-CSRF-Token": me["csrf_token"]}).status_code == 200
    assert [a.actor for a in _audit(agent_without_cameras, "logout")] == [RM_A.code]
    assert client.get("/api/products").status_code == 401


def test_wrong_password_is_refused_and_audited(agent_without_cameras: Agent) -> None:
    client = agent_without_cameras.client()
    r = _login(client, RM_A.code, "not-the-password")
    assert r.status_code == 401
    assert "员工号或密码错误" in r.get_json()["error"] and "wrong staff code or password" in r.get_json()["error"]
    failed = _audit(agent_without_cameras, "login.failed")
    assert [(a.actor, json.loads(a.detail)["failures"]) for a in failed] == [(RM_A.code, 1)]
    assert client.get("/api/products").status_code == 401


def test_malformed_staff_code_names_the_field_and_is_audited(agent_without_cameras: Agent) -> None:
    r = _login(agent_without_cameras.client(), "12345", "whatever-pass")
    assert r.status_code == 422 and set(r.get_json()["fields"]) == {"staff_code"}
    assert [a.actor for a in _audit(agent_without_cameras, "login.failed")] == ["12345"]
    r = _login(agent_without_cameras.client(), RM_A.code, "")
    assert r.status_code == 422 and set(r.get_json()["fields"]) == {"password"}


def test_five_failures_lock_the_account_even_for_the_right_password_and_across_a_restart(
    tmp_path: Path, api_secret: None
) -> None:
    config_path = write_config(
        tmp_path, counter_ui="lockout_failures = 5\nlockout_minutes = 45\nidle_timeout_minutes = 30"
    )
    agent = start_agent(config_path, open_sources=False)
    seed(agent.svc)
    client = agent.client()
    statuses = [_login(client, RM_A.code, f"wrong-{i}-password").status_code for i in range(5)]
    assert statuses == [401, 401, 401, 401, 423]
    r = _login(client, RM_A.code, RM_A.password)
    assert r.status_code == 423 and "账户已锁定" in r.get_json()["error"]
    with agent.svc.sessions() as db:
        state = db.execute(select(StaffLoginState).where(StaffLoginState.staff_code == RM_A.code)).scalar_one()
    # The configured lock time is the one applied.
    assert timedelta(minutes=44) < state.locked_until - utcnow() <= timedelta(minutes=45)
    # Another member of staff is not affected.
    assert _login(agent.client(), RM_B.code, RM_B.password).status_code == 200
    agent.svc.close()

    restarted = start_agent(config_path, open_sources=False)
    assert _login(restarted.client(), RM_A.code, RM_A.password).status_code == 423
    refused = _audit(restarted, "login.refused")
    assert [(a.actor, json.loads(a.detail)["reason"]) for a in refused] == [
        (RM_A.code, "locked"),
        (RM_A.code, "locked"),
    ]

    # When the lock time has passed the right password works again, and the count starts afresh.
    with restarted.svc.sessions() as db:
        state = db.execute(select(StaffLoginState).where(StaffLoginState.staff_code == RM_A.code)).scalar_one()
        state.locked_until = utcnow() - timedelta(seconds=1)
        db.commit()
    assert _login(restarted.client(), RM_A.code, RM_A.password).status_code == 200
    with restarted.svc.sessions() as db:
        assert (
            db.execute(select(StaffLoginState).where(StaffLoginState.staff_code == RM_A.code)).scalar_one_or_none()
            is None
        )
    restarted.svc.close()


def test_unknown_staff_codes_lock_too(agent_without_cameras: Agent) -> None:
    client = agent_without_cameras.client()
    statuses = [_login(client, "7654321", "guess-password").status_code for _ in range(6)]
    assert statuses == [401, 401, 401, 401, 423, 423]


def test_a_post_without_the_csrf_token_is_refused(agent_without_cameras: Agent) -> None:
    client = agent_without_cameras.client()
    sign_in(client, RM_A)
    r = client.post(f"/api/counters/{COUNTER}/recording", json=GOOD_SALE)
    assert r.status_code == 403 and "CSRF" in r.get_json()["error"]
    r = client.post(f"/api/counters/{COUNTER}/recording", json=GOOD_SALE, headers={"X-CSRF-Token": "forged"})
    assert r.status_code == 403


def test_an_idle_session_is_signed_out_and_background_polls_do_not_keep_it_alive(agent_without_cameras: Agent) -> None:
    client = agent_without_cameras.client()
    sign_in(client, RM_A)
    idle_s = agent_without_cameras.config.counter_ui.idle_timeout_minutes * 60
    with client.session_transaction() as s:
        before = s["seen"] = time.time() - idle_s + 600
    assert client.get(f"/api/counters/{COUNTER}/status", headers={"X-Background-Poll": "1"}).status_code == 200
    with client.session_transaction() as s:
        assert s["seen"] == before
        s["seen"] = time.time() - idle_s - 1
    assert client.get("/api/products").status_code == 401
    assert client.get("/api/session").status_code == 401


def test_roles_keep_managers_out_of_admin_and_admins_out_of_recording(agent_without_cameras: Agent) -> None:
    rm = agent_without_cameras.client()
    rm_csrf = sign_in(rm, RM_A)
    assert rm.get("/api/admin/overview").status_code == 403
    assert rm.post("/api/uploads/run", headers=rm_csrf).status_code == 403
    admin = agent_without_cameras.client()
    admin_csrf = sign_in(admin, ADMIN)
    assert admin.post(f"/api/counters/{COUNTER}/recording", json=GOOD_SALE, headers=admin_csrf).status_code == 403
    assert admin.get("/admin").status_code == 200
    assert rm.get("/admin").status_code == 302


def test_bootstrap_admin_only_on_a_branch_that_never_synced(tmp_path: Path, api_secret: None) -> None:
    agent = start_agent(write_config(tmp_path), open_sources=False)
    with pytest.raises(BootstrapRefused, match="7"):
        bootstrap_admin(agent.config, "12ab", "初始管理员", "first-run-pass")
    with pytest.raises(BootstrapRefused, match="8"):
        bootstrap_admin(agent.config, "1999999", "初始管理员", "short")
    bootstrap_admin(agent.config, "1999999", "初始管理员", "first-run-pass")
    r = _login(agent.client(), "1999999", "first-run-pass")
    assert r.status_code == 200 and r.get_json()["role"] == "branch_admin"
    assert [a.target for a in _audit(agent, "staff.bootstrap")] == ["1999999"]
    with pytest.raises(BootstrapRefused, match="already has 1 staff"):
        bootstrap_admin(agent.config, "1888888", "第二个", "second-run-pass")
    with agent.svc.sessions() as db:
        assert [s.code for s in db.execute(select(SyncedStaff)).scalars()] == ["1999999"]
    agent.svc.close()
