"""First-run branch admin, for a branch that has never synced its staff list from the center.

The next successful sync replaces the whole staff table, so the bootstrap account disappears as soon
as the center's list arrives: it cannot outlive the center's say over who works here.
"""

from __future__ import annotations

from sqlalchemy import func, select

from branch_agent.config import BranchConfig
from branch_agent.db.engine import open_spool_db
from branch_agent.db.models import SyncedStaff
from branch_agent.spool.clip_manifest import audit_local
from branch_agent.web.roles import BRANCH_ADMIN
from branch_agent.web.staff_auth import STAFF_CODE
from storage.contract.passwords import hash_password


class BootstrapRefused(Exception):
    """The bootstrap admin cannot be created; the message says why, in Chinese and English."""


def bootstrap_admin(config: BranchConfig, staff_code: str, name: str, password: str) -> None:
    if not STAFF_CODE.fullmatch(staff_code):
        raise BootstrapRefused("员工号必须为7位数字 / staff code must be 7 digits")
    if not 1 <= len(name.strip()) <= 100:
        raise BootstrapRefused("请给出姓名（1–100字） / give a name of 1 to 100 characters")
    try:
        password_hash = hash_password(password)
    except ValueError as exc:
        raise BootstrapRefused(f"密码至少8位 / {exc}") from exc
    sessions = open_spool_db(config.database_url())
    with sessions() as db:
        count = db.execute(select(func.count()).select_from(SyncedStaff)).scalar_one()
        if count:
            raise BootstrapRefused(
                f"本支行已有 {count} 名员工（已从总行同步），不能再建初始管理员 / "
                f"the branch already has {count} staff synced from the center: no bootstrap admin"
            )
        db.add(SyncedStaff(code=staff_code, name=name.strip(), role=BRANCH_ADMIN, password_hash=password_hash))
        audit_local(db, "system", "staff.bootstrap", staff_code, {"role": BRANCH_ADMIN})
        db.commit()
