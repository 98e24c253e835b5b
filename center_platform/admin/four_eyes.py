"""Four eyes: the edits one system admin may not make alone become proposals, applied on a second's approval.

Guarded are a business type's retention rule, a branch's signing key, the password or the granting
of the role of a compliance officer or system admin, and a branch's cameras: whoever holds one of these
can shorten how long evidence is kept, have forged clips accepted, read and export every clip, or
decide what the counters' clips show. An edit that carries
such a change together with harmless ones (a type's name, a user's display name) applies the harmless
part at once and proposes the rest. Approval re-checks the rule (the retention floor may have been
raised since) and that the target is still as the proposal found it; then the edit is made by the
very functions the direct edits use, with the approval written into their audit lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from center_platform.admin import branch_config
from center_platform.admin import catalogue as cat
from center_platform.admin import organisation as org
from center_platform.admin import pending_changes as pc
from center_platform.admin.catalogue import CatalogueError, Changed, check_minimum
from center_platform.admin.catalogue_input import BranchEdit, ProductTypeEdit, UserEdit
from center_platform.admin.pending_changes import ApprovalPolicy
from storage.contract.passwords import hash_password
from storage.database import utcnow
from storage.object_store import ObjectStore
from storage.signing import key_id_for


@dataclass(frozen=True)
class Outcome:
    """What an edit did now (`changed`) and what it left waiting for a second admin (`pending`)."""

    changed: Changed
    pending: dict[str, Any] | None = None


def _only(model: type[Any], data: Any, keep: set[str]) -> Any:
    return model.model_validate({k: getattr(data, k) for k in data.model_fields_set if k in keep})


def edit_product_type(
    db: Session, store: ObjectStore, actor: str, code: str, data: ProductTypeEdit, policy: ApprovalPolicy
) -> Outcome:
    changes = cat.rule_changes(db, code, data)
    rest = _only(ProductTypeEdit, data, set(data.model_fields_set) - set(changes))
    if not changes:
        return Outcome(cat.edit_product_type(db, store, actor, code, rest, minimum_years=policy.minimum_years))
    current = cat.product_type_view(cat._type_by_code(db, code))
    check_minimum({**current, **changes}, policy.minimum_years)
    changed = cat.edit_product_type(db, store, actor, code, rest, minimum_years=policy.minimum_years)
    pending = pc.propose(
        db,
        actor,
        pc.RETENTION_RULE,
        code,
        payload=changes,
        before={k: current[k] for k in changes},
        after=changes,
        policy=policy,
    )
    return Outcome(changed, pending)


def edit_branch(db: Session, actor: str, code: str, data: BranchEdit, policy: ApprovalPolicy) -> Outcome:
    sent = set(data.model_fields_set)
    b = org._branch(db, code)
    new_key = data.signing_public_key if "signing_public_key" in sent else None
    rest = _only(BranchEdit, data, sent - {"signing_public_key"})
    changed = org.edit_branch(db, actor, code, rest) if sent - {"signing_public_key"} else None
    if new_key is None or new_key == b.signing_public_key:
        return Outcome(changed or Changed(org.branch_view(db, b)))
    org.check_new_key(db, b, new_key)
    old = b.signing_public_key
    pending = pc.propose(
        db,
        actor,
        pc.BRANCH_SIGNING_KEY,
        code,
        # The branch signs with a new key from the moment it has it; it vouches from the proposal on.
        payload={"signing_public_key": new_key, "valid_from": utcnow().isoformat()},
        before={"signing_key_id": key_id_for(old) if old else None, "signing_public_key": old},
        after={"signing_key_id": key_id_for(new_key), "signing_public_key": new_key},
        policy=policy,
    )
    return Outcome(changed or Changed(org.branch_view(db, b)), pending)


def reset_password(db: Session, actor: str, username: str, password: str, policy: ApprovalPolicy) -> Outcome:
    if not org.needs_four_eyes(db, username):
        return Outcome(org.reset_user_password(db, actor, username, password))
    u = org._user(db, username)
    pending = pc.propose(
        db,
        actor,
        pc.USER_PASSWORD,
        username,
        payload={"password_hash": hash_password(password)},  # the hash only, dropped once decided
        before={"role": u.role},
        after={"password": "reset"},
        policy=policy,
    )
    return Outcome(Changed(_user_item(db, username)), pending)


def _user_item(db: Session, username: str) -> dict[str, Any]:
    return next(u for u in org.list_users(db) if u["username"] == username)


def edit_user(db: Session, actor: str, username: str, data: UserEdit, policy: ApprovalPolicy) -> Outcome:
    u = org._user(db, username)
    sent = set(data.model_fields_set)
    granting = "role" in sent and data.role != u.role and data.role in org.PRIVILEGED_ROLES
    if not granting:
        return Outcome(org.edit_user(db, actor, username, data))
    if username == actor:
        raise CatalogueError("you cannot deactivate yourself or change your own role", 409, "username")
    role_fields = {"role", "branch_code"}
    rest = _only(UserEdit, data, sent - role_fields)
    changed = org.edit_user(db, actor, username, rest) if sent - role_fields else None
    pending = pc.propose(
        db,
        actor,
        pc.USER_ROLE,
        username,
        payload={"role": data.role},
        before={"role": u.role},
        after={"role": data.role},
        policy=policy,
    )
    return Outcome(changed or Changed(_user_item(db, username)), pending)


def _stale(c_target: str, what: str) -> CatalogueError:
    return CatalogueError(
        f"{c_target} 的{what}在提出后已被改动,请驳回后重新提出 / "
        f"the {what} of {c_target} changed since the proposal; reject it and propose again",
        409,
    )


def approve(db: Session, store: ObjectStore, approver: str, change_id: int, policy: ApprovalPolicy) -> dict[str, Any]:
    """Applies the change as its proposal describes, if `approver` is a second system admin; returns it decided."""
    c, approval = pc.take_for_approval(db, approver, change_id)
    payload = pc.payload(c)
    before = pc.change_view(c)["before"]
    result: dict[str, Any] = {}
    if c.kind == pc.RETENTION_RULE:
        current = cat.product_type_view(cat._type_by_code(db, c.target))
        if any(current[k] != v for k, v in before.items()):
            raise _stale(c.target, "保存规则 retention rule")
        edit = ProductTypeEdit.model_validate(payload)
        changed = cat.edit_product_type(
            db, store, approver, c.target, edit, minimum_years=policy.minimum_years, approval=approval
        )
        result["retention_moved"] = changed.retention_moved
    elif c.kind == pc.BRANCH_SIGNING_KEY:
        b = org._branch(db, c.target)
        if b.signing_public_key != before["signing_public_key"]:
            raise _stale(c.target, "签名密钥 signing key")
        edit_branch = BranchEdit.model_validate({"signing_public_key": payload["signing_public_key"]})
        org.edit_branch(
            db,
            approver,
            c.target,
            edit_branch,
            approval=approval,
            key_valid_from=datetime.fromisoformat(payload["valid_from"]),
        )
    elif c.kind == pc.USER_PASSWORD:
        org.set_password_hash(db, approver, c.target, payload["password_hash"], approval)
    elif c.kind == pc.USER_ROLE:
        if org._user(db, c.target).role != before["role"]:
            raise _stale(c.target, "角色 role")
        org.edit_user(db, approver, c.target, UserEdit.model_validate({"role": payload["role"]}), approval)
    elif c.kind == pc.BRANCH_CAMERAS:
        result.update(branch_config.apply_cameras(db, approver, c.target, payload, before, approval))
    else:
        raise CatalogueError(f"unknown kind of change {c.kind!r}", 409)
    return {"change": pc.mark_applied(db, c, approver, result), **result}
