"""Sign-in at the center under attack: where it redirects, how long names may be, how often one may try,
what a wrong name costs, and that signing out needs the CSRF token."""

from __future__ import annotations

import base64
import hashlib
import secrets

import pytest
from sqlalchemy import func, select

import storage.contract.passwords as passwords
from center_platform.db.models import AuditEvent, User
from storage.contract.passwords import UNKNOWN_ACCOUNT_HASH, check_password, needs_rehash
from tests.center_platform.archive_rig import USER_PASSWORD, ArchiveRig, archive_rig  # noqa: F401


def _audit_count(rig: ArchiveRig, action: str) -> int:
    with rig.sessions() as db:
        return int(
            db.execute(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)).scalar_one()
        )


def _form_login(rig: ArchiveRig, query: str, username: str = "compliance", password: str = USER_PASSWORD):  # type: ignore[no-untyped-def]
    return rig.app.test_client().post("/login" + query, data={"username": username, "password": password})


@pytest.mark.parametrize(
    "next_",
    [
        "/%09/evil.example",
        "//evil.example",
        "/\\evil.example",
        "/%5Cevil.example",
        "https://evil.example",
        "%2F%2Fevil.example",
        "/%2F/evil.example",
        "/%0D%0A/evil.example",
        "%252F%252Fevil.example",
        "/%252F%252Fevil.example",
        "javascript:alert(1)",
        "/\x7f/evil.example",
    ],
)
def test_sign_in_follows_no_next_that_leaves_the_site(archive_rig: ArchiveRig, next_: str) -> None:
    r = _form_login(archive_rig, "?next=" + next_)
    assert r.status_code == 302
    assert r.headers["Location"] == "/recordings", (next_, r.headers["Location"])


def test_sign_in_follows_a_relative_path_on_the_site(archive_rig: ArchiveRig) -> None:
    r = _form_login(archive_rig, "?next=/recordings/" + "a" * 32)
    assert r.status_code == 302 and r.headers["Location"] == "/recordings/" + "a" * 32


@pytest.mark.parametrize(
    ("username", "password"),
    [("x" * 5000, USER_PASSWORD), ("x" * 65, USER_PASSWORD), ("compliance", "p" * 1025)],
)
def test_an_over_long_name_or_password_is_a_clear_400_before_the_database(
    archive_rig: ArchiveRig, username: str, password: str
) -> None:
    before = _audit_count(archive_rig, "login.failed")
    client = archive_rig.app.test_client()
    r = client.post("/api/session", json={"username": username, "password": password})
    assert r.status_code == 400 and "longer than" in r.get_json()["error"]
    page = client.post("/login", data={"username": username, "password": password})
    assert page.status_code == 400 and "longer than" in page.text
    assert _audit_count(archive_rig, "login.failed") == before  # nothing was written


def test_a_json_body_that_is_not_an_object_is_a_400(archive_rig: ArchiveRig) -> None:
    assert archive_rig.app.test_client().post("/api/session", json=["compliance", USER_PASSWORD]).status_code == 400


def test_failed_sign_ins_per_account_are_throttled_with_one_audit_line_per_burst(archive_rig: ArchiveRig) -> None:
    sec = archive_rig.config.security
    sec.lockout_failures = 20  # the throttle, not the lockout, is what this test meets
    sec.login_failures_per_account = 3
    client = archive_rig.app.test_client()
    answers = [
        client.post("/api/session", json={"username": "compliance", "password": "wrong-password"}).status_code
        for _ in range(3 + 4)
    ]
    assert answers == [401] * 3 + [429] * 4
    r = client.post("/api/session", json={"username": "compliance", "password": USER_PASSWORD})
    assert r.status_code == 429  # refused before the password is looked at
    assert int(r.headers["Retry-After"]) >= 1
    message = r.get_json()["error"]
    assert message.index("登录") < message.index("too many sign-in attempts")  # Chinese first, then English
    page = client.post("/login", data={"username": "compliance", "password": USER_PASSWORD})
    assert page.status_code == 429 and "Retry-After" in page.headers and "too many sign-in attempts" in page.text
    assert _audit_count(archive_rig, "login.failed") == 3
    assert _audit_count(archive_rig, "login.throttled") == 1  # one line for the whole burst
    # Another address is not held back by this one's burst.
    other = archive_rig.app.test_client()
    other.environ_base["REMOTE_ADDR"] = "10.1.2.3"
    assert other.post("/api/session", json={"username": "compliance", "password": USER_PASSWORD}).status_code == 200


def test_failed_sign_ins_per_address_are_throttled_across_user_names(archive_rig: ArchiveRig) -> None:
    sec = archive_rig.config.security
    sec.login_failures_per_address = 4
    client = archive_rig.app.test_client()
    client.environ_base["REMOTE_ADDR"] = "10.9.9.9"
    answers = [
        client.post("/api/session", json={"username": f"guess{n}", "password": "wrong-password"}).status_code
        for n in range(4 + 3)
    ]
    assert answers == [401] * 4 + [429] * 3
    assert client.post("/api/session", json={"username": "auditor", "password": USER_PASSWORD}).status_code == 429
    assert _audit_count(archive_rig, "login.throttled") == 1
    assert archive_rig.login("auditor").get("/api/audit/events").status_code == 200  # from elsewhere: fine


def test_the_throttle_keeps_a_bounded_number_of_counters(archive_rig: ArchiveRig) -> None:
    from center_platform.web.login_throttle import LoginThrottle

    throttle = LoginThrottle(archive_rig.config.security, capacity=50)
    for n in range(1000):
        throttle.failed(f"10.0.{n // 256}.{n % 256}", f"user{n}")
    assert throttle.tracked() <= 2 * 50


class _ScryptCounter:
    def __init__(self) -> None:
        self.calls = 0
        self._real = hashlib.scrypt

    def __call__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.calls += 1
        return self._real(*args, **kwargs)


def test_an_unknown_or_inactive_account_costs_one_scrypt_like_a_wrong_password(
    archive_rig: ArchiveRig, monkeypatch: pytest.MonkeyPatch
) -> None:
    import center_platform.web.user_auth as user_auth

    checked: list[str] = []

    def spy(password: str, stored: str) -> bool:
        checked.append(stored)
        return check_password(password, stored)

    monkeypatch.setattr(user_auth, "check_password", spy)
    counter = _ScryptCounter()
    monkeypatch.setattr(passwords.hashlib, "scrypt", counter)
    with archive_rig.sessions() as db:
        db.execute(select(User).where(User.username == "b010admin")).scalar_one().active = False
        db.commit()
    client = archive_rig.app.test_client()
    costs = {}
    for username in ("nobody-here", "b010admin", "auditor"):
        before = counter.calls
        assert client.post("/api/session", json={"username": username, "password": "wrong-password"}).status_code == 401
        costs[username] = counter.calls - before
    assert costs == {"nobody-here": 1, "b010admin": 1, "auditor": 1}
    assert checked[0] == UNKNOWN_ACCOUNT_HASH


def _weak_hash(password: str) -> str:
    salt = secrets.token_bytes(16)
    dk = hashlib.scrypt(password.encode(), salt=salt, n=2**10, r=8, p=1, dklen=32)
    return f"scrypt${2**10}$8$1${base64.b64encode(salt).decode()}${base64.b64encode(dk).decode()}"


def test_a_weak_hash_is_replaced_at_the_next_good_sign_in_without_ending_sessions(archive_rig: ArchiveRig) -> None:
    with archive_rig.sessions() as db:
        db.execute(select(User).where(User.username == "auditor")).scalar_one().password_hash = _weak_hash(
            USER_PASSWORD
        )
        db.commit()
    first = archive_rig.login("auditor")
    second = archive_rig.login("auditor")  # this sign-in finds the hash already upgraded
    with archive_rig.sessions() as db:
        stored = db.execute(select(User.password_hash).where(User.username == "auditor")).scalar_one()
    assert not needs_rehash(stored) and check_password(USER_PASSWORD, stored)
    # Upgrading the hash is not a password change: the session that triggered it lives on.
    assert first.get("/api/audit/events").status_code == 200
    assert second.get("/api/audit/events").status_code == 200


def test_signing_out_needs_the_csrf_token(archive_rig: ArchiveRig) -> None:
    client = archive_rig.login("auditor")
    token = client.environ_base.pop("HTTP_X_CSRF_TOKEN")
    assert client.post("/logout").status_code == 403  # another site's form cannot sign the user out
    assert client.delete("/api/session").status_code == 403
    assert client.get("/api/audit/events").status_code == 200
    r = client.post("/logout", data={"csrf_token": token})
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    assert client.get("/api/audit/events").status_code == 401
