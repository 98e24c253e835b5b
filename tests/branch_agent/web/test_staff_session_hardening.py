"""The counter's sessions follow the synced staff list, sign-in input is bounded, a wrong code costs what a
wrong password costs, and every answer carries the security headers (no inline script or style needed)."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import pytest
from sqlalchemy import delete, func, select

import storage.contract.passwords as passwords
from branch_agent.db.models import LocalAudit, SyncedStaff
from storage.contract.passwords import UNKNOWN_ACCOUNT_HASH, check_password
from tests.branch_agent.web.harness import ADMIN, RM_A, RM_B, Agent, sign_in
from tests.password_hashes import seeded_hash


def _audit_count(agent: Agent) -> int:
    with agent.svc.sessions() as db:
        return int(db.execute(select(func.count()).select_from(LocalAudit)).scalar_one())


def test_staff_removed_by_the_last_sync_loses_access_at_once(agent_without_cameras: Agent) -> None:
    rm, other = agent_without_cameras.client(), agent_without_cameras.client()
    csrf = sign_in(rm, RM_A)
    sign_in(other, RM_B)
    assert rm.get("/api/products").status_code == 200
    with agent_without_cameras.svc.sessions() as db:  # as a sync that no longer lists them writes it
        db.execute(delete(SyncedStaff).where(SyncedStaff.code == RM_A.code))
        db.commit()
    assert rm.get("/api/products").status_code == 401
    assert rm.get("/api/serials/new").status_code == 401
    assert rm.post("/api/counters/C01/recording/cancel", headers=csrf, json={}).status_code == 401
    assert rm.get("/api/session").status_code == 401
    assert rm.get("/").status_code == 200  # the sign-in page, nothing more
    assert other.get("/api/products").status_code == 200


def test_a_role_changed_by_the_sync_ends_the_session(agent_without_cameras: Agent) -> None:
    admin = agent_without_cameras.client()
    sign_in(admin, ADMIN)
    assert admin.get("/api/admin/overview").status_code == 200
    with agent_without_cameras.svc.sessions() as db:
        db.execute(select(SyncedStaff).where(SyncedStaff.code == ADMIN.code)).scalar_one().role = "relationship_manager"
        db.commit()
    assert admin.get("/api/admin/overview").status_code == 401
    assert admin.get("/admin").headers.get("Location") == "/"


def test_a_new_password_from_the_center_ends_the_session(agent_without_cameras: Agent) -> None:
    rm = agent_without_cameras.client()
    sign_in(rm, RM_A)
    with agent_without_cameras.svc.sessions() as db:
        db.execute(select(SyncedStaff).where(SyncedStaff.code == RM_A.code)).scalar_one().password_hash = seeded_hash(
            "rm-a-new-pass-2026"
        )
        db.commit()
    assert rm.get("/api/products").status_code == 401


def test_signing_out_needs_the_csrf_token(agent_without_cameras: Agent) -> None:
    rm = agent_without_cameras.client()
    csrf = sign_in(rm, RM_A)
    assert rm.delete("/api/session").status_code == 403
    assert rm.get("/api/products").status_code == 200
    assert rm.delete("/api/session", headers=csrf).status_code == 200
    assert rm.get("/api/products").status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        {"staff_code": "1" * 5000, "password": "whatever-pass"},
        {"staff_code": "1" * 65, "password": "whatever-pass"},
        {"staff_code": RM_A.code, "password": "p" * 1025},
    ],
)
def test_over_long_sign_in_input_is_a_clear_400_before_the_database(
    agent_without_cameras: Agent, body: dict[str, str]
) -> None:
    before = _audit_count(agent_without_cameras)
    r = agent_without_cameras.client().post("/api/session", json=body)
    assert r.status_code == 400 and "longer than" in r.get_json()["error"]
    assert _audit_count(agent_without_cameras) == before


def test_a_json_body_that_is_not_an_object_is_a_400(agent_without_cameras: Agent) -> None:
    assert agent_without_cameras.client().post("/api/session", json=[RM_A.code]).status_code == 400


def test_an_unknown_staff_code_costs_one_scrypt_against_the_unknown_account_hash(
    agent_without_cameras: Agent, monkeypatch: pytest.MonkeyPatch
) -> None:
    import branch_agent.web.staff_auth as staff_auth

    checked: list[str] = []

    def spy(password: str, stored: str) -> bool:
        checked.append(stored)
        return check_password(password, stored)

    real = hashlib.scrypt
    calls: list[int] = []

    def counting(*args: Any, **kwargs: Any) -> bytes:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(staff_auth, "check_password", spy)
    monkeypatch.setattr(passwords.hashlib, "scrypt", counting)
    client = agent_without_cameras.client()
    assert client.post("/api/session", json={"staff_code": "7777777", "password": "wrong-pass"}).status_code == 401
    assert checked == [UNKNOWN_ACCOUNT_HASH] and len(calls) == 1
    assert client.post("/api/session", json={"staff_code": RM_A.code, "password": "wrong-pass"}).status_code == 401
    assert len(calls) == 2


EXPECTED = {"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}
INLINE = [
    re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I),
    re.compile(r"<style\b", re.I),
    re.compile(r"\sstyle\s*=", re.I),
    re.compile(r"\son[a-z]+\s*=", re.I),
]


def test_every_answer_carries_the_security_headers_and_pages_need_no_inline_code(
    agent_without_cameras: Agent,
) -> None:
    anonymous = agent_without_cameras.client()
    admin = agent_without_cameras.client()
    sign_in(admin, ADMIN)
    answers = {
        "counter page": anonymous.get("/"),
        "admin page": admin.get("/admin"),
        "stylesheet": anonymous.get("/static/app.css"),
        "script": anonymous.get("/static/counter.js"),
        "refused": anonymous.get("/api/products"),
        "json": admin.get("/api/admin/overview"),
        "health": anonymous.get("/healthz"),
        "not found": anonymous.get("/nothing-here"),
    }
    for what, r in answers.items():
        for name, value in EXPECTED.items():
            assert r.headers.get(name) == value, (what, name)
        csp = r.headers.get("Content-Security-Policy", "")
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, (what, csp)
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, (what, csp)
    for what in ("counter page", "admin page"):
        html = answers[what].text
        for pattern in INLINE:
            found = pattern.search(html)
            assert found is None, f"{what}: {html[max(0, found.start() - 80) : found.end() + 80]}"


def test_health_tells_the_state_but_no_error_text(
    agent_without_cameras: Agent, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> list[object]:
        raise RuntimeError("rtsp://admin:cam-secret@10.0.0.9/stream1 refused")

    monkeypatch.setattr(agent_without_cameras.svc.sources["C01"], "health", broken)
    r = agent_without_cameras.client().get("/healthz")
    assert r.status_code == 503 and r.get_json()["status"] == "degraded"
    assert "secret" not in r.text and "10.0.0.9" not in r.text
    assert "cam-secret" in caplog.text
