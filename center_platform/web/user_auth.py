"""Sign-in for center users: hashed passwords, lockout, throttling, idle timeout, the session's CSRF token.

Who may use which route is `roles`; the access guard applies it with `current_user` and `csrf_matches`.
A session is valid while the user's `session_generation` is the one it began with: signing out (here),
a new password, role or branch and deactivation (models) move it on and so end every session at once.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import request, session
from sqlalchemy import select, update

from center_platform.audit import trail as audit
from center_platform.db.models import User
from center_platform.web import hardening, services
from storage.contract.passwords import UNKNOWN_ACCOUNT_HASH, check_password, hash_password, needs_rehash

# Checked before anything else is done with a sign-in (the name is the audit line's actor column).
USERNAME_MAX = 64
PASSWORD_MAX = 1024


@dataclass(frozen=True)
class CurrentUser:
    id: int
    username: str
    role: str
    branch_id: int | None
    generation: int = 0


class LoginFailed(Exception):
    pass


class LoginInvalid(Exception):
    """Input no account can have (400), refused before the database is touched."""


class LoginThrottled(Exception):
    """Too many failed sign-ins from this address (429): refused before the password is looked at."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(
            f"登录尝试过于频繁，请 {retry_after_s} 秒后再试 / too many sign-in attempts: try again in {retry_after_s} s"
        )
        self.retry_after_s = retry_after_s


def sign_in(username: str, password: str) -> CurrentUser:
    """`authenticate`, bounded: input length first, then the throttle; a failure counts against both."""
    if len(username) > USERNAME_MAX:
        raise LoginInvalid(f"用户名过长 / the user name is longer than {USERNAME_MAX} characters")
    if len(password) > PASSWORD_MAX:
        raise LoginInvalid(f"密码过长 / the password is longer than {PASSWORD_MAX} characters")
    address = request.remote_addr or "-"
    throttle = hardening.login_throttle()
    refused = throttle.refusal(address, username)
    if refused is not None:
        if refused.first:  # one audit line for the whole burst, not one per attempt
            sec = services().config.security
            with services().sessions() as db:
                audit.append(
                    db,
                    username if refused.scope == "account" else "-",
                    "login.throttled",
                    "center",
                    {
                        "address": address,
                        "user": username,
                        "scope": refused.scope,
                        "failures": refused.limit,
                        "window_s": sec.login_window_s,
                        "refused_for_s": refused.retry_after_s,
                    },
                )
                db.commit()
        raise LoginThrottled(refused.retry_after_s)
    try:
        return authenticate(username, password)
    except LoginFailed:
        throttle.failed(address, username)
        raise


def authenticate(username: str, password: str) -> CurrentUser:
    svc = services()
    sec = svc.config.security
    now = datetime.now(UTC)
    with svc.sessions() as db:
        user = db.execute(select(User).where(User.username == username)).scalar_one_or_none()
        # One scrypt whatever the account: a wrong name takes as long as a wrong password.
        stored = user.password_hash if user is not None and user.active else UNKNOWN_ACCOUNT_HASH
        password_ok = check_password(password, stored)
        if user is None or not user.active:
            audit.append(db, username or "-", "login.failed", "center", {"reason": "unknown user"})
            db.commit()
            raise LoginFailed("wrong user name or password")
        if user.locked_until is not None and user.locked_until > now:
            audit.append(db, username, "login.refused", "center", {"reason": "locked"})
            db.commit()
            raise LoginFailed(f"account locked until {user.locked_until.astimezone(svc.display_tz):%H:%M}")
        if not password_ok:
            user.failed_logins += 1
            detail: dict[str, object] = {"failures": user.failed_logins}
            if user.failed_logins >= sec.lockout_failures:
                user.locked_until = now + timedelta(minutes=sec.lockout_minutes)
                user.failed_logins = 0
                detail["locked_until"] = user.locked_until.isoformat()
            audit.append(db, username, "login.failed", "center", detail)
            db.commit()
            raise LoginFailed("wrong user name or password")
        user.failed_logins = 0
        user.locked_until = None
        if needs_rehash(user.password_hash) and len(password) >= 8:
            # Today's parameters for the same password: written past the ORM's change tracking, since
            # it is not a new password and must not end the user's other sessions.
            db.execute(
                update(User)
                .where(User.id == user.id, User.password_hash == user.password_hash)
                .values(password_hash=hash_password(password))
            )
        audit.append(db, username, "login", "center", {})
        db.commit()
        return CurrentUser(user.id, user.username, user.role, user.branch_id, user.session_generation)


def start_session(user: CurrentUser) -> str:
    session.clear()
    session["uid"] = user.id
    session["gen"] = user.generation
    session["username"] = user.username
    session["role"] = user.role
    session["branch_id"] = user.branch_id
    session["csrf"] = secrets.token_urlsafe(24)
    session["seen"] = time.time()
    return str(session["csrf"])


def current_user() -> CurrentUser | None:
    if "uid" not in session:
        return None
    idle = services().config.security.session_idle_minutes * 60
    if time.time() - float(session.get("seen", 0)) > idle:
        session.clear()
        return None
    # The account is read again on every request: a user deactivated, re-roled or moved to another
    # branch by the system admin loses the old rights at once, not when the session times out.
    with services().sessions() as db:
        row = db.get(User, int(session["uid"]))
        if (
            row is None
            or not row.active
            or row.role != session.get("role")
            or row.branch_id != session.get("branch_id")
            or row.session_generation != session.get("gen")
        ):
            session.clear()
            return None
    session["seen"] = time.time()
    return CurrentUser(row.id, row.username, row.role, row.branch_id, row.session_generation)


def end_sessions() -> None:
    """Signing out: ends this session and every other one of the same user, on any browser."""
    uid = session.get("uid")
    if uid is not None:
        with services().sessions() as db:
            db.execute(update(User).where(User.id == int(uid)).values(session_generation=User.session_generation + 1))
            db.commit()
    session.clear()


def csrf_token() -> str:
    return str(session.get("csrf", ""))


def csrf_matches(given: str) -> bool:
    """An unsafe request must carry the token of this session: another site's form cannot."""
    return bool(given) and secrets.compare_digest(given, csrf_token())
