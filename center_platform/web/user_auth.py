"""Sign-in for center users: hashed passwords, lockout, idle timeout, CSRF, deny-unless-allowed roles."""

from __future__ import annotations

import functools
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from flask import Blueprint, abort, g, jsonify, request, session
from sqlalchemy import select

from center_platform.audit import trail as audit
from center_platform.db.models import User
from center_platform.web import services
from storage.contract.passwords import check_password

F = TypeVar("F", bound=Callable[..., object])

COMPLIANCE = "compliance_officer"
SYSTEM_ADMIN = "system_admin"
AUDITOR = "auditor"
BRANCH_ADMIN = "branch_admin"
ROLES = (COMPLIANCE, SYSTEM_ADMIN, AUDITOR, BRANCH_ADMIN)

bp = Blueprint("session_api", __name__, url_prefix="/api/session")


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


def require_role(*roles: str, page: bool = False) -> Callable[[F], F]:
    """Every route names the roles it allows; no role, no access. Unsafe methods also need the CSRF token."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
            user = current_user()
            if user is None:
                if page:
                    from flask import redirect, url_for

                    return redirect(url_for("ui.login", next=request.path))
                abort(401)
            if user.role not in roles:
                abort(403)
            if request.method not in ("GET", "HEAD", "OPTIONS"):
                given = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token", "")
                if not given or not secrets.compare_digest(given, csrf_token()):
                    abort(403, description="missing or wrong CSRF token")
            g.user = user
            return view(*args, **kwargs)

        wrapper.access_roles = frozenset(roles)  # type: ignore[attr-defined]  # read by the deny-by-default guard
        return wrapper  # type: ignore[return-value]

    return decorate


@bp.post("")
def login():  # type: ignore[no-untyped-def]
    data = request.get_json(silent=True) or {}
    username = str(data.get("username", ""))
    password = str(data.get("password", ""))
    if not username or not password:
        return jsonify(error="username and password are required"), 400
    try:
        user = authenticate(username, password)
    except LoginFailed as exc:
        return jsonify(error=str(exc)), 401
    token = start_session(user)
    return jsonify(username=user.username, role=user.role, csrf_token=token)


@bp.delete("")
@require_role(*ROLES)
def logout():  # type: ignore[no-untyped-def]
    session.clear()
    return jsonify(ok=True)
