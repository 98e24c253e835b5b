"""Deny by default: every route is public or names its callers; each role reaches exactly its part; sign-in lockout and CSRF."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Flask
from sqlalchemy import select

from center_platform.db.models import User
from center_platform.web.access_guard import PUBLIC_ENDPOINTS, access_of
from tests.center_platform.archive_rig import USER_PASSWORD, USERS, ArchiveRig, archive_rig  # noqa: F401

PLACEHOLDERS = {
    "clip_id": "a" * 32,
    "code": "B009",
    "kind": "products",
    "key": "P-90",
    "counter": "C01",
    "username": "auditor",
    "filename": "x.css",
}


def _urls(app: Flask) -> list[tuple[str, str, str]]:
    """(endpoint, method, url) for every route, arguments filled in."""
    out = []
    for rule in app.url_map.iter_rules():
        url = rule.rule
        for arg in rule.arguments:
            url = url.replace(f"<{arg}>", PLACEHOLDERS.get(arg, "x")).replace(
                f"<path:{arg}>", PLACEHOLDERS.get(arg, "x")
            )
            url = url.replace(f"<int:{arg}>", "1")
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            out.append((rule.endpoint, method, url))
    return out


def _allowed(app: Flask, role: str) -> set[str]:
    return {r.endpoint for r in app.url_map.iter_rules() if role in access_of(app, r.endpoint)[1]}


def test_every_route_is_declared_and_refuses_strangers(archive_rig: ArchiveRig) -> None:
    app = archive_rig.app
    undeclared = [r.endpoint for r in app.url_map.iter_rules() if access_of(app, r.endpoint)[0] == "undeclared"]
    assert undeclared == []
    anonymous = app.test_client()
    for endpoint, method, url in _urls(app):
        if endpoint in PUBLIC_ENDPOINTS:
            continue
        r = anonymous.open(url, method=method, json={} if method != "GET" else None)
        if r.status_code == 302:
            assert "/login" in r.headers["Location"], (endpoint, url)
        else:
            assert r.status_code in (401, 403), (endpoint, method, url, r.status_code)


def test_a_route_without_an_access_rule_is_refused_even_when_signed_in(archive_rig: ArchiveRig) -> None:
    app = archive_rig.app
    app.add_url_rule("/forgot-the-decorator", "forgot", lambda: "evidence")
    for username in USERS:
        assert archive_rig.login(username).get("/forgot-the-decorator").status_code == 403


def test_each_role_reaches_exactly_its_part(archive_rig: ArchiveRig) -> None:
    app = archive_rig.app
    paths = {r.endpoint: r.rule for r in app.url_map.iter_rules()}
    logout = {"session_api.logout", "ui.logout"}

    def under(endpoints: set[str], *prefixes: str) -> set[str]:
        return {e for e in endpoints if paths[e].startswith(prefixes)}

    auditor = _allowed(app, "auditor") - logout
    # The auditor reads the audit trail and the reports (read-only figures, no replay).
    assert auditor and auditor == under(auditor, "/api/audit", "/audit", "/api/reports", "/reports")
    admin = _allowed(app, "system_admin") - logout
    assert under(admin, "/api/admin", "/admin") and not under(admin, "/api/recordings", "/recordings")
    for role in ("compliance_officer", "branch_admin"):
        assert not under(_allowed(app, role), "/api/admin", "/admin", "/api/audit", "/audit"), role
    assert under(_allowed(app, "compliance_officer"), "/api/recordings")

    expected = {  # (path, who gets 200)
        "/api/recordings": {"compliance", "b009admin", "b010admin"},
        "/recordings": {"compliance", "b009admin", "b010admin"},
        "/api/operations/uploads": {"compliance", "sysadmin"},
        "/api/admin/products": {"sysadmin"},
        "/api/admin/users": {"sysadmin"},
        "/admin/branches": {"sysadmin"},
        "/api/audit/events": {"auditor", "sysadmin"},
        "/api/audit/certificates": {"auditor", "sysadmin"},
        "/audit": {"auditor", "sysadmin"},
    }
    for username in USERS:
        client = archive_rig.login(username)
        for path, allowed in expected.items():
            status = client.get(path).status_code
            assert status == (200 if username in allowed else 403), (username, path, status)


def test_branch_admin_sees_only_own_branch(archive_rig: ArchiveRig) -> None:
    clip = archive_rig.archive(customer_name="王小明")
    own, other = archive_rig.login("b009admin"), archive_rig.login("b010admin")
    assert [r["clip_id"] for r in own.get("/api/recordings").get_json()["rows"]] == [clip]
    assert other.get("/api/recordings").get_json()["total"] == 0
    assert own.get(f"/api/recordings/{clip}/media", headers={"Range": "bytes=0-9"}).status_code == 206
    assert other.get(f"/api/recordings/{clip}/media", headers={"Range": "bytes=0-9"}).status_code == 403
    auditor = archive_rig.login("auditor")
    assert auditor.get(f"/api/recordings/{clip}/media").status_code == 403


def test_lockout_after_repeated_failures_and_admin_unlock(archive_rig: ArchiveRig) -> None:
    limit = archive_rig.app.extensions["center"].config.security.lockout_failures
    client = archive_rig.app.test_client()
    for _ in range(limit):
        assert (
            client.post("/api/session", json={"username": "compliance", "password": "wrong-password"}).status_code
            == 401
        )
    r = client.post("/api/session", json={"username": "compliance", "password": USER_PASSWORD})
    assert r.status_code == 401 and "locked" in r.get_json()["error"]
    with archive_rig.sessions() as db:
        locked_until = db.execute(select(User.locked_until).where(User.username == "compliance")).scalar_one()
        assert locked_until is not None and locked_until > datetime.now(UTC) + timedelta(minutes=1)
    listed = {u["username"]: u for u in archive_rig.login("sysadmin").get("/api/admin/users").get_json()["items"]}
    assert listed["compliance"]["locked_until"] is not None
    assert archive_rig.login("sysadmin").post("/api/admin/users/compliance/unlock").status_code == 200
    assert client.post("/api/session", json={"username": "compliance", "password": USER_PASSWORD}).status_code == 200


def test_unsafe_methods_need_the_csrf_token(archive_rig: ArchiveRig) -> None:
    admin = archive_rig.login("sysadmin")
    token = admin.environ_base.pop("HTTP_X_CSRF_TOKEN")
    body = {"username": "newauditor", "role": "auditor", "password": "long-enough"}
    assert admin.post("/api/admin/users", json=body).status_code == 403
    assert admin.post("/api/admin/users", json=body, headers={"X-CSRF-Token": "forged"}).status_code == 403
    assert admin.post("/api/admin/users", json=body, headers={"X-CSRF-Token": token}).status_code == 201


def test_a_deactivated_user_cannot_sign_in_and_a_password_reset_works(archive_rig: ArchiveRig) -> None:
    admin = archive_rig.login("sysadmin")
    assert admin.patch("/api/admin/users/auditor", json={"active": False}).status_code == 200
    client = archive_rig.app.test_client()
    assert client.post("/api/session", json={"username": "auditor", "password": USER_PASSWORD}).status_code == 401
    assert admin.patch("/api/admin/users/auditor", json={"active": True}).status_code == 200
    assert admin.post("/api/admin/users/auditor/password", json={"password": "short"}).get_json()["field"] == "password"
    assert admin.post("/api/admin/users/auditor/password", json={"password": "a-new-password"}).status_code == 200
    assert client.post("/api/session", json={"username": "auditor", "password": USER_PASSWORD}).status_code == 401
    assert client.post("/api/session", json={"username": "auditor", "password": "a-new-password"}).status_code == 200


def test_each_role_lands_on_a_page_it_may_use(archive_rig: ArchiveRig) -> None:
    assert "/login" in archive_rig.app.test_client().get("/").headers["Location"]
    for username in USERS:
        client = archive_rig.login(username)
        home = client.get("/")
        assert home.status_code == 302, username
        assert client.get(home.headers["Location"], follow_redirects=True).status_code == 200, (
            username,
            home.headers["Location"],
        )


def test_deactivating_or_re_roling_a_signed_in_user_takes_effect_at_once(archive_rig: ArchiveRig) -> None:
    admin = archive_rig.login("sysadmin")
    auditor = archive_rig.login("auditor")
    assert auditor.get("/api/audit/events").status_code == 200
    assert admin.patch("/api/admin/users/auditor", json={"active": False}).status_code == 200
    assert auditor.get("/api/audit/events").status_code == 401
    officer = archive_rig.login("compliance")
    with archive_rig.sessions() as db:
        db.execute(select(User).where(User.username == "compliance")).scalar_one().role = "auditor"
        db.commit()
    assert officer.get("/api/recordings").status_code == 401
