"""Deny by default on the branch, as on the center: every route is public or granted by `roles`; a stranger
is refused everything else, and a relationship manager reaches none of the branch admin's part."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from branch_agent.db.models import LocalAudit
from branch_agent.web.access_guard import access_of
from branch_agent.web.roles import BRANCH_ADMIN, PAGE_ENDPOINTS, PUBLIC_ENDPOINTS, RELATIONSHIP_MANAGER, may
from tests.branch_agent.web.harness import ADMIN, COUNTER, RM_A, Agent, sign_in

PLACEHOLDERS = {"code": COUNTER, "clip_id": "a" * 32, "filename": "app.css"}


def _urls(app: Flask) -> list[tuple[str, str, str]]:
    """(endpoint, method, url) for every route, its arguments filled in."""
    out = []
    for rule in app.url_map.iter_rules():
        url = rule.rule
        for arg in rule.arguments:
            for form in (f"<{arg}>", f"<path:{arg}>"):
                url = url.replace(form, PLACEHOLDERS[arg])
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            out.append((rule.endpoint, method, url))
    return out


def _call(client: FlaskClient, method: str, url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    r = client.open(url, method=method, json={} if method != "GET" else None, headers=headers)
    return r.status_code, r.headers.get("Location", "")


def _upload_runs(agent: Agent) -> int:
    with agent.svc.sessions() as db:
        return len(db.execute(select(LocalAudit).where(LocalAudit.action == "upload.run")).scalars().all())


def test_every_route_is_public_or_refuses_a_stranger(agent_without_cameras: Agent) -> None:
    app = agent_without_cameras.app
    undeclared = [r.endpoint for r in app.url_map.iter_rules() if access_of(r.endpoint)[0] == "undeclared"]
    assert undeclared == []
    anonymous = app.test_client()
    checked = 0
    for endpoint, method, url in _urls(app):
        if endpoint in PUBLIC_ENDPOINTS:
            continue
        status, location = _call(anonymous, method, url)
        if endpoint in PAGE_ENDPOINTS:  # a page sends the stranger to sign in, as the center's pages do
            assert (status, location) == (302, "/"), (endpoint, method, url, status)
        else:
            assert status == 401, (endpoint, method, url, status)
        checked += 1
    assert checked >= 15  # the whole counter and admin API, not an empty walk
    assert _upload_runs(agent_without_cameras) == 0  # refused before the view: nothing ran


def test_public_routes_answer_without_signing_in(agent_without_cameras: Agent) -> None:
    anonymous = agent_without_cameras.client()
    assert anonymous.get("/").status_code == 200
    assert anonymous.get("/static/app.css").status_code == 200
    assert anonymous.get("/healthz").status_code in (200, 503)  # the cameras' state, not a refusal
    assert anonymous.get("/api/session").status_code == 401  # "nobody is signed in" is its answer
    assert anonymous.post("/api/session", json={"staff_code": RM_A.code, "password": RM_A.password}).status_code == 200


def test_a_relationship_manager_reaches_none_of_the_branch_admin_part(agent_without_cameras: Agent) -> None:
    app = agent_without_cameras.app
    admin_only = {
        e
        for e in (r.endpoint for r in app.url_map.iter_rules())
        if may(BRANCH_ADMIN, e) and not may(RELATIONSHIP_MANAGER, e)
    }
    assert {"ui.admin_page", "admin_api.overview", "admin_api.upload_now"} <= admin_only
    rm = agent_without_cameras.client()
    csrf = sign_in(rm, RM_A)
    for endpoint, method, url in _urls(app):
        if endpoint not in admin_only:
            continue
        status, location = _call(rm, method, url, headers=csrf)
        if endpoint in PAGE_ENDPOINTS:
            assert (status, location) == (302, "/"), (endpoint, status)
        else:
            assert status == 403, (endpoint, method, url, status)
    assert _upload_runs(agent_without_cameras) == 0

    admin = agent_without_cameras.client()
    sign_in(admin, ADMIN)
    assert admin.get("/admin").status_code == 200
    assert admin.get("/api/admin/overview").status_code == 200


def test_the_counter_actions_are_the_relationship_managers_alone(agent_without_cameras: Agent) -> None:
    app = agent_without_cameras.app
    rm_only = {e for e in (r.endpoint for r in app.url_map.iter_rules()) if may(RELATIONSHIP_MANAGER, e)} - {
        e for e in (r.endpoint for r in app.url_map.iter_rules()) if may(BRANCH_ADMIN, e)
    }
    assert {"recording_api.start", "recording_api.complete", "recording_api.cancel"} <= rm_only
    admin = agent_without_cameras.client()
    csrf = sign_in(admin, ADMIN)
    for endpoint, method, url in _urls(app):
        if endpoint in rm_only:
            assert _call(admin, method, url, headers=csrf)[0] == 403, endpoint


def test_a_route_without_a_grant_is_refused_even_when_signed_in(agent_without_cameras: Agent) -> None:
    app = agent_without_cameras.app
    app.add_url_rule("/api/forgot-the-grant", "forgot", lambda: "evidence")
    for who in (RM_A, ADMIN):
        client = agent_without_cameras.client()
        sign_in(client, who)
        r = client.get("/api/forgot-the-grant")
        assert r.status_code == 403 and "no access rule" in r.get_json()["error"]
