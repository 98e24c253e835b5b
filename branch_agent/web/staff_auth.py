"""Counter sign-in with staff code and password: persistent lockout, idle timeout, the session's CSRF token.

Who may use which route is `roles`; the access guard applies it with `signed_in` and `csrf_matches`.
A session lasts only while the synced staff record it began with does: a staff member the last sync
removed, gave another role or a new password loses access at the next request.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from datetime import datetime, timedelta

from flask import request, session
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from branch_agent.db.models import StaffLoginState, SyncedStaff
from branch_agent.services import BranchServices
from branch_agent.spool.clip_manifest import audit_local
from branch_agent.web import services
from branch_agent.web.roles import COUNTER_ROLES
from storage.contract.passwords import UNKNOWN_ACCOUNT_HASH, check_password
from storage.database import utcnow

STAFF_CODE = re.compile(r"^[0-9]{7}$")
# Longer input is refused (400) before anything is looked up or written.
STAFF_CODE_MAX = 64
PASSWORD_MAX = 1024


class LoginRefused(Exception):
    """Wrong code or password, or a code without counter rights; `status` is the HTTP answer."""

    status = 401


class AccountLocked(LoginRefused):
    status = 423

    def __init__(self, message: str, locked_until: datetime) -> None:
        super().__init__(message)
        self.locked_until = locked_until


def _locked_message(svc: BranchServices, until: datetime) -> str:
    local = until.astimezone(svc.tz).strftime("%H:%M")
    return f"密码错误次数过多，账户已锁定至 {local} / too many failed sign-ins: account locked until {local}"


def login(staff_code: str, password: str) -> SyncedStaff:
    """Checks the code and password; on success starts a fresh session. Every outcome is audited."""
    try:
        return _login_once(staff_code, password)
    except IntegrityError:
        # Two first failures for one code at the same moment both inserted its state row; the
        # loser's transaction was rolled back whole (audit included), so simply count it again.
        return _login_once(staff_code, password)


def _login_once(staff_code: str, password: str) -> SyncedStaff:
    svc = services()
    rules = svc.config.counter_ui
    now = utcnow()
    with svc.sessions() as db:
        state = db.execute(select(StaffLoginState).where(StaffLoginState.staff_code == staff_code)).scalar_one_or_none()
        if state is not None and state.locked_until is not None and state.locked_until > now:
            audit_local(
                db,
                staff_code,
                "login.refused",
                "counter",
                {"reason": "locked", "locked_until": state.locked_until.isoformat()},
            )
            db.commit()
            raise AccountLocked(_locked_message(svc, state.locked_until), state.locked_until)
        staff = db.execute(select(SyncedStaff).where(SyncedStaff.code == staff_code)).scalar_one_or_none()
        # One scrypt whatever the code: an unknown code takes as long as a wrong password.
        password_ok = check_password(password, staff.password_hash if staff is not None else UNKNOWN_ACCOUNT_HASH)
        if staff is None or not password_ok:
            if state is None:
                state = StaffLoginState(staff_code=staff_code, consecutive_failures=0)
                db.add(state)
            state.consecutive_failures += 1
            state.last_failure_at = now
            failures = state.consecutive_failures
            locked = failures >= rules.lockout_failures
            if locked:
                state.locked_until = now + timedelta(minutes=rules.lockout_minutes)
                state.consecutive_failures = 0
            audit_local(db, staff_code, "login.failed", "counter", {"failures": failures, "locked": locked})
            db.commit()
            if locked:
                assert state.locked_until is not None
                raise AccountLocked(_locked_message(svc, state.locked_until), state.locked_until)
            left = rules.lockout_failures - failures
            raise LoginRefused(
                f"员工号或密码错误，再错 {left} 次将锁定 / wrong staff code or password; {left} more and the account locks"
            )
        if staff.role not in COUNTER_ROLES:
            audit_local(
                db, staff_code, "login.failed", "counter", {"reason": f"role {staff.role} has no counter rights"}
            )
            db.commit()
            raise LoginRefused("此员工无柜台权限 / this staff member has no counter rights")
        if state is not None:
            db.delete(state)
        audit_local(db, staff_code, "login", "counter", {"role": staff.role, "ip": request.remote_addr or ""})
        db.commit()
    session.clear()
    session.update(
        staff=staff.code,
        role=staff.role,
        name=staff.name,
        csrf=secrets.token_urlsafe(24),
        seen=time.time(),
        pw=_password_mark(staff.password_hash),
    )
    return staff


def _password_mark(password_hash: str) -> str:
    """Which password the session began with, without putting the hash in the (signed, readable) cookie."""
    return hashlib.sha256(password_hash.encode("utf-8")).hexdigest()[:16]


def audit_malformed_login(staff_code: str) -> None:
    svc = services()
    with svc.sessions() as db:
        audit_local(db, staff_code[:64], "login.failed", "counter", {"reason": "malformed staff code"})
        db.commit()


def logout() -> None:
    if "staff" in session:
        svc = services()
        with svc.sessions() as db:
            audit_local(db, str(session["staff"]), "logout", "counter", {})
            db.commit()
    session.clear()


def signed_in() -> bool:
    """True for a live session (and refreshes nothing); one idle too long, or whose staff member the sync
    removed, re-roled or gave a new password, is cleared."""
    if "staff" not in session:
        return False
    svc = services()
    idle_s = svc.config.counter_ui.idle_timeout_minutes * 60
    if time.time() - float(session.get("seen", 0)) > idle_s:
        session.clear()
        return False
    # The synced record is read again on every request: the sync replaces the staff list whole.
    with svc.sessions() as db:
        staff = db.execute(select(SyncedStaff).where(SyncedStaff.code == str(session["staff"]))).scalar_one_or_none()
        valid = (
            staff is not None
            and staff.role == session.get("role")
            and _password_mark(staff.password_hash) == session.get("pw")
        )
    if not valid:
        session.clear()
        return False
    return True


def csrf_matches(given: str) -> bool:
    """An unsafe request must carry the token of this session: another site's page cannot."""
    return bool(given) and secrets.compare_digest(given, str(session.get("csrf", "")))
