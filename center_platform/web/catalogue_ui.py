"""Catalogue pages for system admins: one list-and-create page and one edit page per kind of entry.

The forms feed the same input models and the same functions as the JSON API, so a rule holds in both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from pydantic import BaseModel

from center_platform.admin import catalogue as cat
from center_platform.admin import four_eyes
from center_platform.admin import organisation as org
from center_platform.admin import pending_changes as pc
from center_platform.admin.catalogue import CatalogueError, Changed
from center_platform.admin.catalogue_input import (
    BranchCreate,
    BranchEdit,
    CounterCreate,
    PasswordReset,
    ProductCreate,
    ProductEdit,
    ProductTypeCreate,
    ProductTypeEdit,
    StaffCreate,
    StaffEdit,
    UserCreate,
    UserEdit,
)
from center_platform.retention.minimum import types_below_minimum
from center_platform.web import services
from center_platform.web.catalogue_api import approval_policy, expire_pending, in_transaction, parse
from center_platform.web.roles import ROLES
from center_platform.web.user_auth import csrf_token
from storage.ascii_numbers import whole_number
from storage.contract.roles import STAFF_ROLES

bp = Blueprint("catalogue_ui", __name__, url_prefix="/admin")


@dataclass(frozen=True)
class Field:
    name: str
    label: str  # Chinese first, English second
    kind: str = "text"  # text | int | date | select | lines | textarea | password | bool
    options: tuple[str, ...] = ()
    clearable: bool = False  # an empty box means "no value" rather than "unchanged"


@dataclass(frozen=True)
class Kind:
    title: str
    key: str
    columns: tuple[tuple[str, str], ...]
    create: tuple[Field, ...]
    edit: tuple[Field, ...]
    create_model: type[BaseModel]
    edit_model: type[BaseModel]
    list_fn: Callable[[Any], list[dict[str, Any]]]
    create_fn: Callable[[Any, str, Any], Any]
    edit_fn: Callable[[Any, str, str, Any], Changed | four_eyes.Outcome]


RISK = ("R1", "R2", "R3", "R4", "R5")
_TYPE_RULE = (
    Field("retention_rule", "保存规则 Retention rule", "select", ("fixed_term", "open_ended")),
    Field("years_after_maturity", "到期后保存年数 Years after maturity", "int"),
    Field("years_after_purchase", "购买后保存年数 Years after purchase", "int"),
    Field("years_after_redemption", "赎回后保存年数 Years after redemption", "int"),
    Field("years_after_dispute", "争议结束后保存年数 Years after dispute", "int"),
)
_PRODUCT = (
    Field("name", "产品名称 Name"),
    Field("type_code", "业务类型 Business type"),
    Field("term_days", "期限(天) Term (days)", "int", clearable=True),
    Field("maturity_date", "到期日 Maturity date", "date", clearable=True),
    Field("risk_level", "风险等级 Risk level", "select", RISK),
    Field("disclosure_script", "风险揭示话术 Disclosure script", "textarea"),
    Field("required_markers", "必录环节(每行一个) Required markers (one a line)", "lines"),
    Field("min_duration_s", "最短录像时长(秒) Shortest recording (s)", "int"),
)


def _create_type(db: Any, actor: str, data: Any) -> Changed:
    return cat.create_product_type(db, actor, data, minimum_years=approval_policy().minimum_years)


def _edit_type(db: Any, actor: str, key: str, data: Any) -> four_eyes.Outcome:
    return four_eyes.edit_product_type(db, services().store, actor, key, data, approval_policy())


def _edit_branch(db: Any, actor: str, key: str, data: Any) -> four_eyes.Outcome:
    return four_eyes.edit_branch(db, actor, key, data, approval_policy())


def _edit_user(db: Any, actor: str, key: str, data: Any) -> four_eyes.Outcome:
    return four_eyes.edit_user(db, actor, key, data, approval_policy())


def _edit_product(db: Any, actor: str, key: str, data: Any) -> Changed:
    return cat.edit_product(db, services().store, actor, key, data)


KINDS: dict[str, Kind] = {
    "product-types": Kind(
        "业务类型 Business types",
        "code",
        (
            ("code", "代码 Code"),
            ("name", "名称 Name"),
            ("retention_rule", "保存规则 Rule"),
            ("years_after_maturity", "到期+年"),
            ("years_after_purchase", "购买+年"),
            ("years_after_redemption", "赎回+年"),
            ("years_after_dispute", "争议+年"),
        ),
        (Field("code", "代码 Code"), Field("name", "名称 Name"), *_TYPE_RULE),
        (Field("name", "名称 Name"), *_TYPE_RULE),
        ProductTypeCreate,
        ProductTypeEdit,
        cat.list_product_types,
        _create_type,
        _edit_type,
    ),
    "products": Kind(
        "产品 Products",
        "code",
        (
            ("code", "代码 Code"),
            ("name", "名称 Name"),
            ("type_code", "类型 Type"),
            ("term_days", "期限 Term"),
            ("maturity_date", "到期日 Maturity"),
            ("risk_level", "风险 Risk"),
            ("required_markers", "必录 Markers"),
            ("min_duration_s", "最短(秒) Min s"),
            ("active", "启用 Active"),
        ),
        (Field("code", "产品代码 Code"), *_PRODUCT),
        (*_PRODUCT, Field("active", "启用 Active", "bool")),
        ProductCreate,
        ProductEdit,
        cat.list_products,
        cat.create_product,
        _edit_product,
    ),
    "branches": Kind(
        "网点 Branches",
        "code",
        (
            ("code", "代码 Code"),
            ("name", "名称 Name"),
            ("timezone", "时区 Time zone"),
            ("signing_key_id", "签名密钥 Key id"),
            ("counters", "柜台 Counters"),
            ("active", "启用 Active"),
        ),
        (
            Field("code", "网点代码 Code"),
            Field("name", "名称 Name"),
            Field("timezone", "时区 Time zone"),
            Field("signing_public_key", "签名公钥(Base64) Signing public key"),
        ),
        (
            Field("name", "名称 Name"),
            Field("timezone", "时区 Time zone"),
            Field("signing_public_key", "签名公钥 Signing public key"),
            Field("active", "启用 Active", "bool"),
        ),
        BranchCreate,
        BranchEdit,
        org.list_branches,
        org.enrol_branch,
        _edit_branch,
    ),
    "staff": Kind(
        "网点员工 Branch staff",
        "code",
        (
            ("code", "工号 Code"),
            ("name", "姓名 Name"),
            ("role", "角色 Role"),
            ("branch_code", "网点 Branch"),
            ("active", "启用 Active"),
        ),
        (
            Field("code", "工号(7位) Staff code"),
            Field("name", "姓名 Name"),
            Field("role", "角色 Role", "select", STAFF_ROLES),
            Field("branch_code", "网点代码 Branch"),
            Field("password", "初始密码 Password", "password"),
        ),
        (
            Field("name", "姓名 Name"),
            Field("role", "角色 Role", "select", STAFF_ROLES),
            Field("branch_code", "网点代码 Branch"),
            Field("password", "新密码(留空不改) New password", "password"),
            Field("active", "启用 Active", "bool"),
        ),
        StaffCreate,
        StaffEdit,
        org.list_staff,
        org.create_staff,
        org.edit_staff,
    ),
    "users": Kind(
        "平台用户 Center users",
        "username",
        (
            ("username", "用户名 User"),
            ("display_name", "姓名 Name"),
            ("role", "角色 Role"),
            ("branch_code", "网点 Branch"),
            ("active", "启用 Active"),
            ("locked_until", "锁定至 Locked until"),
        ),
        (
            Field("username", "用户名 Username"),
            Field("display_name", "姓名 Name"),
            Field("role", "角色 Role", "select", ROLES),
            Field("branch_code", "网点(仅网点管理员) Branch, branch admins only"),
            Field("password", "初始密码 Password", "password"),
        ),
        (
            Field("display_name", "姓名 Name"),
            Field("role", "角色 Role", "select", ROLES),
            Field("branch_code", "网点(仅网点管理员) Branch", clearable=True),
            Field("active", "启用 Active", "bool"),
        ),
        UserCreate,
        UserEdit,
        org.list_users,
        org.create_user,
        _edit_user,
    ),
}


def form_data(fields: tuple[Field, ...]) -> dict[str, Any]:
    """The posted form as the API's JSON: empty boxes are left out unless they clear a value."""
    out: dict[str, Any] = {}
    for f in fields:
        if f.kind == "bool":
            out[f.name] = request.form.get(f.name) == "on"
            continue
        raw = request.form.get(f.name, "")
        if f.kind == "lines":
            out[f.name] = [line.strip() for line in raw.splitlines() if line.strip()]
        elif raw.strip() == "":
            if f.clearable:
                out[f.name] = None
        elif f.kind == "int":
            # Not ASCII digits ('²', '１'): left as text, which the input model refuses with a clear 400.
            number = whole_number(raw.strip().removeprefix("-"))
            out[f.name] = raw if number is None else (-number if raw.strip().startswith("-") else number)
        else:
            out[f.name] = raw
    return out


def _kind(kind: str) -> Kind:
    if kind not in KINDS:
        abort(404)
    return KINDS[kind]


def _render(kind: str, status: int = 200, **extra: Any) -> ResponseReturnValue:
    k = _kind(kind)
    minimum = approval_policy().minimum_years
    with services().sessions() as db:
        items = k.list_fn(db)
        below = types_below_minimum(db, minimum) if kind == "product-types" else []
    pending = in_transaction(pc.list_pending)  # "待复核 Pending approval" on every list page
    return render_template(
        "catalogue.html",
        kind=kind,
        k=k,
        kinds=KINDS,
        items=items,
        user=g.user,
        csrf=csrf_token(),
        pending=pending,
        below_minimum=below,
        **extra,
    ), status


def _done(message: str, result: Changed | four_eyes.Outcome | None) -> None:
    if isinstance(result, four_eyes.Outcome):
        if result.pending is not None:
            c = result.pending
            flash(
                f"{c['kind_label']} 的变更已提交复核(#{c['id']}),须另一名系统管理员复核后生效;见下方“待复核” / "
                f"submitted for approval (#{c['id']}): it applies once another system admin approves it"
            )
        result = result.changed
    moved = result.retention_moved if result else 0
    flash(message + (f";{moved} 段录像保存期已顺延 retention moved for {moved} recordings" if moved else ""))


@bp.get("")
def home() -> ResponseReturnValue:
    return redirect(url_for("catalogue_ui.listing", kind="products"))


@bp.get("/<kind>")
def listing(kind: str) -> ResponseReturnValue:
    return _render(kind)


@bp.post("/<kind>")
def create(kind: str) -> ResponseReturnValue:
    k = _kind(kind)
    try:
        data = parse(k.create_model, form_data(k.create))
        result = in_transaction(lambda db: k.create_fn(db, g.user.username, data))
    except CatalogueError as exc:
        return _render(kind, exc.status, error=str(exc), form=request.form)
    if kind == "branches":
        changed, secret = result
        # The API secret is shown on this page once and never again.
        return _render(kind, 201, secret=secret, secret_for=changed.view["code"])
    _done("已创建 created", None)
    return redirect(url_for("catalogue_ui.listing", kind=kind))


@bp.get("/<kind>/<key>")
def edit_page(kind: str, key: str, error: str = "", status: int = 200) -> ResponseReturnValue:
    k = _kind(kind)
    with services().sessions() as db:
        item = next((i for i in k.list_fn(db) if str(i[k.key]) == key), None)
    if item is None:
        abort(404)
    return render_template(
        "catalogue_edit.html", kind=kind, k=k, kinds=KINDS, item=item, error=error, user=g.user, csrf=csrf_token()
    ), status


@bp.post("/<kind>/<key>")
def edit(kind: str, key: str) -> ResponseReturnValue:
    k = _kind(kind)
    try:
        data = parse(k.edit_model, form_data(k.edit))
        result = in_transaction(lambda db: k.edit_fn(db, g.user.username, key, data))
    except CatalogueError as exc:
        return edit_page(kind, key, error=str(exc), status=exc.status)
    _done(f"{key} 已保存 saved", result)
    return redirect(url_for("catalogue_ui.listing", kind=kind))


@bp.post("/branches/<key>/counters")
def add_counter(key: str) -> ResponseReturnValue:
    try:
        data = parse(CounterCreate, {"code": request.form.get("code", ""), "name": request.form.get("name", "")})
        in_transaction(lambda db: org.add_counter(db, g.user.username, key, data))
    except CatalogueError as exc:
        return edit_page("branches", key, error=str(exc), status=exc.status)
    _done(f"{key} 柜台已添加 counter added", None)
    return redirect(url_for("catalogue_ui.edit_page", kind="branches", key=key))


@bp.post("/branches/<key>/secret")
def rotate_secret(key: str) -> ResponseReturnValue:
    try:
        secret = in_transaction(lambda db: org.rotate_branch_secret(db, g.user.username, key))
    except CatalogueError as exc:
        return _render("branches", exc.status, error=str(exc))
    return _render("branches", 200, secret=secret, secret_for=key)


@bp.post("/users/<key>/password")
def reset_password(key: str) -> ResponseReturnValue:
    try:
        data = parse(PasswordReset, {"password": request.form.get("password", "")})
        policy = approval_policy()
        outcome = in_transaction(lambda db: four_eyes.reset_password(db, g.user.username, key, data.password, policy))
    except CatalogueError as exc:
        return edit_page("users", key, error=str(exc), status=exc.status)
    _done(
        f"{key} 密码重置已提交 password reset submitted" if outcome.pending else f"{key} 密码已重置 password reset",
        outcome,
    )
    return redirect(url_for("catalogue_ui.listing", kind="users"))


@bp.post("/users/<key>/unlock")
def unlock(key: str) -> ResponseReturnValue:
    try:
        in_transaction(lambda db: org.unlock_user(db, g.user.username, key))
    except CatalogueError as exc:
        return _render("users", exc.status, error=str(exc))
    _done(f"{key} 已解锁 unlocked", None)
    return redirect(url_for("catalogue_ui.listing", kind="users"))


@bp.post("/pending-changes/<int:change_id>/approve")
def approve_change(change_id: int) -> ResponseReturnValue:
    expire_pending()
    policy = approval_policy()
    try:
        done = in_transaction(lambda db: four_eyes.approve(db, services().store, g.user.username, change_id, policy))
    except CatalogueError as exc:
        return _render("products", exc.status, error=str(exc))
    moved = int(done.get("retention_moved", 0))
    flash(
        f"变更 #{change_id} 已复核并生效 approved and applied"
        + (f";{moved} 段录像保存期已顺延 retention moved for {moved} recordings" if moved else "")
    )
    return redirect(url_for("catalogue_ui.listing", kind="products"))


@bp.post("/pending-changes/<int:change_id>/reject")
def reject_change(change_id: int) -> ResponseReturnValue:
    expire_pending()
    note = request.form.get("note", "")
    try:
        in_transaction(lambda db: pc.reject(db, g.user.username, change_id, note))
    except CatalogueError as exc:
        return _render("products", exc.status, error=str(exc))
    flash(f"变更 #{change_id} 已驳回 rejected")
    return redirect(url_for("catalogue_ui.listing", kind="products"))
