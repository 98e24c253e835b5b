"""Branches, counters, branch staff and center users, as the system admin configures them.

Nothing a recording refers to is deleted; people and branches are deactivated. Secrets never reach
the audit trail: a branch's API secret is generated here and shown once to the admin who enrolled the
branch (or rotated it), passwords only ever exist as scrypt hashes.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from center_platform.admin import signing_keys
from center_platform.admin.catalogue import Approval, CatalogueError, Changed, NeedsApproval, diff, edited_fields
from center_platform.admin.catalogue_input import (
    BranchCreate,
    BranchEdit,
    CounterCreate,
    CounterEdit,
    StaffCreate,
    StaffEdit,
    UserCreate,
    UserEdit,
)
from center_platform.audit import trail as audit
from center_platform.db.models import Branch, Counter, Staff, User
from center_platform.db.sealed_secrets import seal_branch_secret
from storage.contract.passwords import hash_password
from storage.database import utcnow
from storage.signing import key_id_for

BRANCH_ADMIN = "branch_admin"
# Accounts whose password or role one system admin alone may not set (four eyes, see four_eyes).
PRIVILEGED_ROLES = frozenset({"compliance_officer", "system_admin"})


def counter_view(c: Counter) -> dict[str, Any]:
    return {"code": c.code, "name": c.name}


def branch_view(db: Session, b: Branch) -> dict[str, Any]:
    counters = db.execute(select(Counter).where(Counter.branch_id == b.id).order_by(Counter.code)).scalars()
    return {
        "code": b.code,
        "name": b.name,
        "timezone": b.timezone,
        "signing_public_key": b.signing_public_key,
        "signing_key_id": key_id_for(b.signing_public_key) if b.signing_public_key else None,
        "active": b.active,
        "counters": [counter_view(c) for c in counters],
        "signing_keys": [signing_keys.key_view(v) for v in signing_keys.versions(db, b)],
    }


def staff_view(s: Staff, branch_code: str) -> dict[str, Any]:
    return {"code": s.code, "name": s.name, "role": s.role, "branch_code": branch_code, "active": s.active}


def user_view(u: User, branch_code: str | None) -> dict[str, Any]:
    return {
        "username": u.username,
        "display_name": u.display_name,
        "role": u.role,
        "branch_code": branch_code,
        "active": u.active,
        "failed_logins": u.failed_logins,
        "locked_until": u.locked_until.isoformat() if u.locked_until else None,
    }


def _branch(db: Session, code: str, field: str = "code") -> Branch:
    b = db.execute(select(Branch).where(Branch.code == code)).scalar_one_or_none()
    if b is None:
        raise CatalogueError(f"no branch {code!r}", 404 if field == "code" else 400, field)
    return b


def _branch_codes(db: Session) -> dict[int, str]:
    return dict(db.execute(select(Branch.id, Branch.code)).tuples().all())


# -- branches and counters ------------------------------------------------------------------------


def list_branches(db: Session) -> list[dict[str, Any]]:
    return [branch_view(db, b) for b in db.execute(select(Branch).order_by(Branch.code)).scalars()]


def enrol_branch(db: Session, actor: str, data: BranchCreate) -> tuple[Changed, str]:
    """(the branch, its API secret): the secret is in no reply but this one and in no audit line."""
    if db.execute(select(Branch.id).where(Branch.code == data.code)).first():
        raise CatalogueError(f"branch {data.code!r} already exists", 409, "code")
    codes = [c.code for c in data.counters]
    if len(set(codes)) != len(codes):
        raise CatalogueError("each counter code may appear once", 400, "counters")
    api_secret = secrets.token_urlsafe(32)
    b = Branch(
        code=data.code,
        name=data.name,
        timezone=data.timezone,
        api_secret=seal_branch_secret(db, data.code, api_secret),
        signing_public_key=data.signing_public_key,
        active=True,
    )
    db.add(b)
    db.flush()
    signing_keys.enrol(db, b, actor)
    for c in data.counters:
        db.add(Counter(branch_id=b.id, code=c.code, name=c.name))
    db.flush()
    view = branch_view(db, b)
    audit.append(db, actor, "catalogue.branch.enrolled", data.code, {"after": view})
    return Changed(view), api_secret


def edit_branch(
    db: Session,
    actor: str,
    code: str,
    data: BranchEdit,
    approval: Approval | None = None,
    key_valid_from: datetime | None = None,
) -> Changed:
    """A new signing key needs `approval` (four eyes); the old key is kept as a closed version."""
    b = _branch(db, code)
    before = branch_view(db, b)
    fields = edited_fields(data)
    new_key = fields.pop("signing_public_key", None)
    if new_key is not None and new_key != b.signing_public_key:
        if approval is None:
            raise NeedsApproval("网点签名密钥", "signing_public_key")
        check_new_key(db, b, new_key)
        at = utcnow()
        signing_keys.replace(
            db,
            b,
            new_key,
            valid_from=key_valid_from or at,
            at=at,
            proposed_by=approval.proposed_by,
            approved_by=approval.approved_by,
        )
    for name, value in fields.items():
        setattr(b, name, value)
    db.flush()
    after = branch_view(db, b)
    detail: dict[str, object] = diff(before, after)
    if approval is not None:
        detail.update(approval.audit())
    audit.append(db, actor, "catalogue.branch.updated", code, detail)
    return Changed(after)


def check_new_key(db: Session, b: Branch, new_key: str) -> None:
    if signing_keys.was_retired(db, b, new_key):
        raise CatalogueError(
            "该密钥曾是本网点已停用的密钥,不能再次启用 / this key was retired from the branch and cannot come back",
            409,
            "signing_public_key",
        )


def rotate_branch_secret(db: Session, actor: str, code: str) -> str:
    b = _branch(db, code)
    plain = secrets.token_urlsafe(32)
    b.api_secret = seal_branch_secret(db, code, plain)
    audit.append(db, actor, "catalogue.branch.secret_rotated", code, {})
    return plain


def add_counter(db: Session, actor: str, branch_code: str, data: CounterCreate) -> Changed:
    b = _branch(db, branch_code)
    if db.execute(select(Counter.id).where(Counter.branch_id == b.id, Counter.code == data.code)).first():
        raise CatalogueError(f"counter {data.code!r} already exists in branch {branch_code}", 409, "code")
    c = Counter(branch_id=b.id, code=data.code, name=data.name)
    db.add(c)
    db.flush()
    audit.append(db, actor, "catalogue.counter.created", f"{branch_code}/{data.code}", {"after": counter_view(c)})
    return Changed(counter_view(c))


def edit_counter(db: Session, actor: str, branch_code: str, counter_code: str, data: CounterEdit) -> Changed:
    b = _branch(db, branch_code)
    c = db.execute(select(Counter).where(Counter.branch_id == b.id, Counter.code == counter_code)).scalar_one_or_none()
    if c is None:
        raise CatalogueError(f"no counter {counter_code!r} in branch {branch_code}", 404, "code")
    before = counter_view(c)
    c.name = data.name
    audit.append(db, actor, "catalogue.counter.updated", f"{branch_code}/{counter_code}", diff(before, counter_view(c)))
    return Changed(counter_view(c))


# -- branch staff ---------------------------------------------------------------------------------


def list_staff(db: Session, branch_code: str | None = None) -> list[dict[str, Any]]:
    codes = _branch_codes(db)
    q = select(Staff).order_by(Staff.code)
    if branch_code:
        q = q.where(Staff.branch_id == _branch(db, branch_code, "branch_code").id)
    return [staff_view(s, codes[s.branch_id]) for s in db.execute(q).scalars()]


def _staff(db: Session, code: str) -> Staff:
    s = db.execute(select(Staff).where(Staff.code == code)).scalar_one_or_none()
    if s is None:
        raise CatalogueError(f"no staff member {code!r}", 404, "code")
    return s


def create_staff(db: Session, actor: str, data: StaffCreate) -> Changed:
    if db.execute(select(Staff.id).where(Staff.code == data.code)).first():
        raise CatalogueError(f"staff code {data.code!r} is already taken", 409, "code")
    b = _branch(db, data.branch_code, "branch_code")
    s = Staff(
        code=data.code,
        name=data.name,
        role=data.role,
        branch_id=b.id,
        password_hash=hash_password(data.password),
        active=True,
    )
    db.add(s)
    db.flush()
    view = staff_view(s, b.code)
    audit.append(db, actor, "catalogue.staff.created", data.code, {"after": view})
    return Changed(view)


def edit_staff(db: Session, actor: str, code: str, data: StaffEdit) -> Changed:
    s = _staff(db, code)
    codes = _branch_codes(db)
    before = staff_view(s, codes[s.branch_id])
    password_changed = False
    for name, value in edited_fields(data).items():
        if name == "branch_code":
            s.branch_id = _branch(db, value, "branch_code").id
        elif name == "password":
            s.password_hash = hash_password(value)
            password_changed = True
        else:
            setattr(s, name, value)
    db.flush()
    after = staff_view(s, codes[s.branch_id])
    detail: dict[str, Any] = diff(before, after)
    if password_changed:
        detail["password"] = "reset"
    audit.append(db, actor, "catalogue.staff.updated", code, detail)
    return Changed(after)


# -- center users ---------------------------------------------------------------------------------


def list_users(db: Session) -> list[dict[str, Any]]:
    codes = _branch_codes(db)
    users = db.execute(select(User).order_by(User.username)).scalars()
    return [user_view(u, codes.get(u.branch_id) if u.branch_id else None) for u in users]


def _user(db: Session, username: str) -> User:
    u = db.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if u is None:
        raise CatalogueError(f"no user {username!r}", 404, "username")
    return u


def _branch_for_role(db: Session, role: str, branch_code: str | None) -> int | None:
    """A branch admin belongs to exactly one branch; every other role sees all branches and has none."""
    if role == BRANCH_ADMIN:
        if not branch_code:
            raise CatalogueError("a branch admin needs the code of the branch they administer", 400, "branch_code")
        return _branch(db, branch_code, "branch_code").id
    if branch_code:
        raise CatalogueError(f"only a branch admin belongs to a branch, not a {role}", 400, "branch_code")
    return None


def create_user(db: Session, actor: str, data: UserCreate) -> Changed:
    if db.execute(select(User.id).where(User.username == data.username)).first():
        raise CatalogueError(f"user {data.username!r} already exists", 409, "username")
    branch_id = _branch_for_role(db, data.role, data.branch_code)
    u = User(
        username=data.username,
        display_name=data.display_name or data.username,
        role=data.role,
        branch_id=branch_id,
        password_hash=hash_password(data.password),
        failed_logins=0,
        active=True,
    )
    db.add(u)
    db.flush()
    view = user_view(u, data.branch_code if branch_id else None)
    audit.append(db, actor, "user.created", data.username, {"after": view})
    return Changed(view)


def edit_user(db: Session, actor: str, username: str, data: UserEdit, approval: Approval | None = None) -> Changed:
    """Giving someone the compliance or system admin role needs `approval` (four eyes)."""
    u = _user(db, username)
    codes = _branch_codes(db)
    before = user_view(u, codes.get(u.branch_id) if u.branch_id else None)
    sent = data.model_fields_set
    if username == actor and (("active" in sent and data.active is False) or ("role" in sent and data.role != u.role)):
        raise CatalogueError("you cannot deactivate yourself or change your own role", 409, "username")
    if "role" in sent and data.role != u.role and data.role in PRIVILEGED_ROLES and approval is None:
        raise NeedsApproval("授予合规或系统管理员角色", "role")
    for name in ("display_name", "active"):
        if name in sent:
            value = getattr(data, name)
            if value is None:
                raise CatalogueError("may not be empty", 400, name)
            setattr(u, name, value)
    if "role" in sent or "branch_code" in sent:
        role = data.role if "role" in sent and data.role else u.role
        branch_code = (
            data.branch_code
            if "branch_code" in sent
            else (codes.get(u.branch_id) if u.branch_id and role == BRANCH_ADMIN else None)
        )
        u.branch_id = _branch_for_role(db, role, branch_code)
        u.role = role
    db.flush()
    after = user_view(u, codes.get(u.branch_id) if u.branch_id else None)
    detail: dict[str, object] = diff(before, after)
    if approval is not None:
        detail.update(approval.audit())
    audit.append(db, actor, "user.updated", username, detail)
    return Changed(after)


def needs_four_eyes(db: Session, username: str) -> bool:
    """A compliance officer's or system admin's password is reset only with a second admin's approval."""
    return _user(db, username).role in PRIVILEGED_ROLES


def reset_user_password(db: Session, actor: str, username: str, password: str) -> Changed:
    """A new password also lifts a lockout: the admin has just vouched for the person."""
    if needs_four_eyes(db, username):
        raise NeedsApproval("合规人员或系统管理员的密码重置", "password")
    return set_password_hash(db, actor, username, hash_password(password))


def set_password_hash(
    db: Session, actor: str, username: str, password_hash: str, approval: Approval | None = None
) -> Changed:
    u = _user(db, username)
    u.password_hash = password_hash
    u.failed_logins = 0
    u.locked_until = None
    audit.append(db, actor, "user.password_reset", username, approval.audit() if approval else {})
    codes = _branch_codes(db)
    return Changed(user_view(u, codes.get(u.branch_id) if u.branch_id else None))


def unlock_user(db: Session, actor: str, username: str) -> Changed:
    u = _user(db, username)
    before = {"failed_logins": u.failed_logins, "locked_until": u.locked_until.isoformat() if u.locked_until else None}
    u.failed_logins = 0
    u.locked_until = None
    audit.append(db, actor, "user.unlocked", username, {"before": before})
    codes = _branch_codes(db)
    return Changed(user_view(u, codes.get(u.branch_id) if u.branch_id else None))
