"""Counter sign-in with staff code and password: lockout after repeated failures, CSRF, idle timeout."""

from __future__ import annotations

import functools
import secrets
import time
from typing import Callable, TypeVar

from flask import abort, current_app, g, request, session
from sqlalchemy import select

from branch_agent.clip_manifest import audit_local
from branch_agent.db.models import SyncedStaff
from branch_agent.services import BranchServices
from center_platform.contract.passwords import check_password

F = TypeVar("F", bound=Callable[..., object])
RM = "relationship_manager"
ADMIN = "branch_admin"
LOCK_AFTER = 5
LOCK_SECONDS = 15 * 60
IDLE_SECONDS = 30 * 60


def services() -> BranchServices:
    return current_app.extensions["branch"]  # type: ignore[no-any-return]


class LoginRefused(Exception):
    pass


def login(staff_code: str, password: str) -> SyncedStaff:
    svc = services()
    failures: dict[str, list[float]] = current_app.extensions["login_failures"]
    now = time.time()
    recent = [t for t in failures.get(staff_code, []) if now - t < LOCK_SECONDS]
    with svc.sessions() as db:
        if len(recent) >= LOCK_AFTER:
            audit_local(db, staff_code, "login.refused", "counter", {"reason": "locked"})
            db.commit()
            raise LoginRefused("账户已锁定，请稍后再试 / account locked after repeated failures, try later")
        staff = db.execute(select(SyncedStaff).where(SyncedStaff.code == staff_code)).scalar_one_or_none()
        if staff is None or not check_password(password, staff.password_hash):
            failures[staff_code] = recent + [now]
            audit_local(db, staff_code, "login.failed", "counter", {"failures": len(recent) + 1})
            db.commit()
            raise LoginRefused("员工号或密码错误 / wrong staff code or password")
        failures.pop(staff_code, None)
        audit_local(db, staff_code, "login", "counter", {})
        db.commit()
    session.clear()
    session.update(staff=staff.code, role=staff.role, name=staff.name, csrf=secrets.token_urlsafe(24), seen=now)
    return staff


def require_staff(*roles: str) -> Callable[[F], F]:
    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
            if "staff" not in session or time.time() - float(session.get("seen", 0)) > IDLE_SECONDS:
                session.clear()
                abort(401)
            if session["role"] not in roles:
                abort(403)
            if request.method not in ("GET", "HEAD"):
                given = request.headers.get("X-CSRF-Token", "")
                if not given or not secrets.compare_digest(given, str(session.get("csrf", ""))):
                    abort(403, description="missing or wrong CSRF token")
            session["seen"] = time.time()
            g.staff_code = session["staff"]
            g.role = session["role"]
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
