"""Sign-in for center users: hashed passwords, lockout, idle timeout, the session's CSRF token.

Who may use which route is `roles`; the access guard applies it with `current_user` and `csrf_matches`.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import session
from sqlalchemy import select

from center_platform.audit import trail as audit
from center_platform.db.models import User
from center_platform.web import services
from storage.contract.passwords import check_password


@dataclass(frozen=True)
class CurrentUser:
    id: int
    username: str
    role: str
    branch_id: int | None


class LoginFailed(Exception):
    pass


def authenticate(username: str, password: str) -> CurrentUser:
    svc = services()
    sec = svc.config.security
    now = datetime.now(UTC)
    with svc.sessions() as db:
        user = db.execute(select(User).where(User.username == username)).scalar_one_or_none()
        if user is None or not user.active:
            audit.append(db, username or "-", "login.failed", "center", {"reason": "unknown user"})
            db.commit()
            raise LoginFailed("wrong user name or password")
        if user.locked_until is not None and user.locked_until > now:
            audit.append(db, username, "login.refused", "center", {"reason": "locked"})
            db.commit()
            raise LoginFailed(f"account locked until {user.locked_until.astimezone(svc.display_tz):%H:%M}")
        if not check_password(password, user.password_hash):
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
        audit.append(db, username, "login", "center", {})
        db.commit()
        return CurrentUser(user.id, user.username, user.role, user.branch_id)


def start_session(user: CurrentUser) -> str:
    session.clear()
    session["uid"] = user.id
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
        ):
            session.clear()
            return None
    session["seen"] = time.time()
    return CurrentUser(row.id, row.username, row.role, row.branch_id)


def csrf_token() -> str:
    return str(session.get("csrf", ""))


def csrf_matches(given: str) -> bool:
    """An unsafe request must carry the token of this session: another site's form cannot."""
    return bool(given) and secrets.compare_digest(given, csrf_token())
