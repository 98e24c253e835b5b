"""A center session ends for good: signing out, a new password, deactivation and a new role end every
session the user has, on every browser, and a copied cookie does not bring one back. The cookie itself
is HttpOnly and SameSite=Lax always, and Secure where the configuration says so."""

from __future__ import annotations

from pathlib import Path

from flask.testing import FlaskClient
from sqlalchemy import select

from center_platform.app import create_app
from center_platform.config import CenterConfig, load_center_config
from center_platform.db.models import User
from tests.center_platform.archive_rig import USER_PASSWORD, ArchiveRig, archive_rig  # noqa: F401
from tests.password_hashes import seeded_hash

REPO = Path(__file__).resolve().parents[3]


def _cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def _with_cookie(rig: ArchiveRig, value: str) -> FlaskClient:
    client = rig.app.test_client()
    client.set_cookie("session", value)
    return client


def test_signing_out_ends_every_session_of_the_user_and_a_copied_cookie_stays_dead(archive_rig: ArchiveRig) -> None:
    laptop, desktop = archive_rig.login("auditor"), archive_rig.login("auditor")
    copied = _cookie(laptop)
    assert _with_cookie(archive_rig, copied).get("/api/audit/events").status_code == 200
    bystander = archive_rig.login("sysadmin")
    assert laptop.delete("/api/session").status_code == 200
    assert laptop.get("/api/audit/events").status_code == 401
    assert desktop.get("/api/audit/events").status_code == 401
    assert _with_cookie(archive_rig, copied).get("/api/audit/events").status_code == 401
    assert bystander.get("/api/audit/events").status_code == 200  # another user's session is untouched


def test_the_sign_out_page_form_ends_a_copied_session_too(archive_rig: ArchiveRig) -> None:
    browser = archive_rig.login("auditor")
    copied = _cookie(browser)
    token = browser.environ_base["HTTP_X_CSRF_TOKEN"]
    assert browser.post("/logout", data={"csrf_token": token}).status_code == 302
    assert _with_cookie(archive_rig, copied).get("/audit").status_code == 302  # back to the sign-in page


def _change_auditor(rig: ArchiveRig, **values: object) -> None:
    """As any path that applies a change through the catalogue's models does (admin pages, API, approvals)."""
    with rig.sessions() as db:
        user = db.execute(select(User).where(User.username == "auditor")).scalar_one()
        for name, value in values.items():
            setattr(user, name, value)
        db.commit()


def test_a_new_password_ends_the_users_sessions(archive_rig: ArchiveRig) -> None:
    auditor = archive_rig.login("auditor")
    admin = archive_rig.login("sysadmin")
    _change_auditor(archive_rig, password_hash=seeded_hash("a-new-password"))
    assert auditor.get("/api/audit/events").status_code == 401
    assert admin.get("/api/admin/users").status_code == 200  # the admin's own session lives on


def test_deactivation_ends_sessions_for_good_even_after_reactivation(archive_rig: ArchiveRig) -> None:
    auditor = archive_rig.login("auditor")
    copied = _cookie(auditor)
    admin = archive_rig.login("sysadmin")
    assert admin.patch("/api/admin/users/auditor", json={"active": False}).status_code == 200
    assert admin.patch("/api/admin/users/auditor", json={"active": True}).status_code == 200
    assert auditor.get("/api/audit/events").status_code == 401
    assert _with_cookie(archive_rig, copied).get("/api/audit/events").status_code == 401
    assert archive_rig.login("auditor").get("/api/audit/events").status_code == 200  # signing in again works


def test_a_role_change_ends_sessions_even_when_changed_back(archive_rig: ArchiveRig) -> None:
    auditor = archive_rig.login("auditor")
    copied = _cookie(auditor)
    _change_auditor(archive_rig, role="system_admin")
    _change_auditor(archive_rig, role="auditor")
    assert auditor.get("/api/audit/events").status_code == 401
    assert _with_cookie(archive_rig, copied).get("/api/audit/events").status_code == 401


def test_moving_a_branch_admin_to_another_branch_and_back_ends_sessions(archive_rig: ArchiveRig) -> None:
    officer = archive_rig.login("b009admin")
    with archive_rig.sessions() as db:
        user = db.execute(select(User).where(User.username == "b009admin")).scalar_one()
        home, other = user.branch_id, db.execute(select(User.branch_id).where(User.username == "b010admin")).scalar()
        user.branch_id = other
        db.commit()
        user.branch_id = home
        db.commit()
    assert officer.get("/api/recordings").status_code == 401


def test_editing_only_the_display_name_ends_no_session(archive_rig: ArchiveRig) -> None:
    auditor = archive_rig.login("auditor")
    admin = archive_rig.login("sysadmin")
    assert admin.patch("/api/admin/users/auditor", json={"display_name": "审计员"}).status_code == 200
    assert auditor.get("/api/audit/events").status_code == 200
    with archive_rig.sessions() as db:
        assert db.execute(select(User.session_generation).where(User.username == "auditor")).scalar_one() == 0


def _set_cookie(client: FlaskClient) -> str:
    r = client.post("/api/session", json={"username": "auditor", "password": USER_PASSWORD})
    assert r.status_code == 200
    return next(v for k, v in r.headers.items() if k == "Set-Cookie" and v.startswith("session="))


def test_the_session_cookie_is_httponly_and_lax_and_not_secure_by_default(archive_rig: ArchiveRig) -> None:
    header = _set_cookie(archive_rig.app.test_client())
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Secure" not in header


def test_secure_cookies_sets_the_secure_flag(archive_rig: ArchiveRig, tmp_path: Path) -> None:
    config = CenterConfig.model_validate(
        {
            "server": {"data_dir": str(tmp_path / "secure")},
            "security": {"secure_cookies": True},
            "audit": {"checkpoint_prefix": archive_rig.config.audit.checkpoint_prefix},
        }
    )
    app = create_app(config, archive_rig.store, migrate=False)  # the same database as the rig
    try:
        header = _set_cookie(app.test_client())
    finally:
        app.extensions["center"].engine.dispose()
    assert "Secure" in header and "HttpOnly" in header and "SameSite=Lax" in header


def test_the_example_configuration_documents_secure_cookies() -> None:
    text = (REPO / "configs" / "center.example.toml").read_text(encoding="utf-8")
    assert "secure_cookies = false" in text
    cfg = load_center_config(REPO / "configs" / "center.example.toml")
    assert cfg.security.secure_cookies is False
    assert (cfg.security.max_concurrent_exports, cfg.security.max_concurrent_completions) == (2, 2)
