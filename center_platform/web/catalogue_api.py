"""`/api/admin/...`: catalogue configuration for system admins (business types, products, branches,
counters, branch staff, center users). Bad input is 400 naming the field, a taken code 409; either way
nothing stored changes.

Four eyes: an edit that changes a retention rule, a branch's signing key, or the password or role of a
compliance officer or system admin answers 202 with the proposal (`pending`); it applies when another
system admin approves it at `/api/admin/pending-changes/<id>/approve` (or is rejected, or lapses).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, Response, g, jsonify, request
from flask.typing import ResponseReturnValue
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from center_platform.admin import catalogue as cat
from center_platform.admin import four_eyes
from center_platform.admin import organisation as org
from center_platform.admin import pending_changes as pc
from center_platform.admin.catalogue import CatalogueError
from center_platform.admin.catalogue_input import (
    BranchCreate,
    BranchEdit,
    CounterCreate,
    CounterEdit,
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
from center_platform.web import services

bp = Blueprint("catalogue_api", __name__, url_prefix="/api/admin")
M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


def parse(model: type[M], data: object) -> M:
    """The request as `model`, or CatalogueError naming the first field that is wrong."""
    if not isinstance(data, dict):
        raise CatalogueError("request body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or None
        if err["type"] == "extra_forbidden":
            raise CatalogueError("unknown field", 400, field) from exc
        if err["type"] == "missing":
            raise CatalogueError("is required", 400, field) from exc
        raise CatalogueError(str(err["msg"]).removeprefix("Value error, "), 400, field) from exc


def in_transaction(work: Callable[[Session], T]) -> T:
    """Runs one change and its audit line as one transaction; a unique key lost to a race is a 409."""
    with services().sessions() as db:
        try:
            result = work(db)
            db.commit()
        except IntegrityError as exc:
            db.rollback()
            raise CatalogueError("conflicts with an existing entry (the code is taken)", 409) from exc
        return result


@bp.errorhandler(CatalogueError)
def _refused(exc: CatalogueError) -> ResponseReturnValue:
    return jsonify(error=str(exc), field=exc.field), exc.status


def _body(model: type[M]) -> M:
    return parse(model, request.get_json(silent=True))


def _changed(result: cat.Changed, status: int = 200) -> tuple[Response, int]:
    body: dict[str, Any] = {"item": result.view}
    body["retention_moved"] = result.retention_moved
    return jsonify(body), status


def _actor() -> str:
    return str(g.user.username)


def approval_policy() -> pc.ApprovalPolicy:
    config = services().config
    return pc.ApprovalPolicy(expire_hours=config.approvals.expire_hours, minimum_years=config.retention.minimum_years)


def _outcome(result: four_eyes.Outcome) -> tuple[Response, int]:
    """200 with the entry when everything applied; 202 with the proposal when part of it awaits approval."""
    body: dict[str, Any] = {"item": result.changed.view, "retention_moved": result.changed.retention_moved}
    if result.pending is None:
        return jsonify(body), 200
    body["pending"] = result.pending
    return jsonify(body), 202


def expire_pending() -> None:
    """Lapsed proposals are closed (and audited) in a transaction of their own, whatever the request does next."""
    in_transaction(pc.expire_due)


# -- business types and products -----------------------------------------------------------------


@bp.get("/product-types")
def product_types() -> ResponseReturnValue:
    with services().sessions() as db:
        return jsonify(items=cat.list_product_types(db))


@bp.post("/product-types")
def create_product_type() -> ResponseReturnValue:
    data = _body(ProductTypeCreate)
    minimum = approval_policy().minimum_years
    return _changed(in_transaction(lambda db: cat.create_product_type(db, _actor(), data, minimum_years=minimum)), 201)


@bp.patch("/product-types/<code>")
def edit_product_type(code: str) -> ResponseReturnValue:
    data = _body(ProductTypeEdit)
    policy = approval_policy()
    return _outcome(
        in_transaction(lambda db: four_eyes.edit_product_type(db, services().store, _actor(), code, data, policy))
    )


@bp.get("/products")
def products() -> ResponseReturnValue:
    with services().sessions() as db:
        return jsonify(items=cat.list_products(db))


@bp.post("/products")
def create_product() -> ResponseReturnValue:
    data = _body(ProductCreate)
    return _changed(in_transaction(lambda db: cat.create_product(db, _actor(), data)), 201)


@bp.patch("/products/<code>")
def edit_product(code: str) -> ResponseReturnValue:
    data = _body(ProductEdit)
    return _changed(in_transaction(lambda db: cat.edit_product(db, services().store, _actor(), code, data)))


# -- branches and counters ------------------------------------------------------------------------


@bp.get("/branches")
def branches() -> ResponseReturnValue:
    with services().sessions() as db:
        return jsonify(items=org.list_branches(db))


@bp.post("/branches")
def enrol_branch() -> ResponseReturnValue:
    data = _body(BranchCreate)
    result, secret = in_transaction(lambda db: org.enrol_branch(db, _actor(), data))
    # Shown once: the branch's operator copies it into BRANCH_API_SECRET; it is in no other reply.
    return jsonify(item=result.view, api_secret=secret), 201


@bp.patch("/branches/<code>")
def edit_branch(code: str) -> ResponseReturnValue:
    data = _body(BranchEdit)
    policy = approval_policy()
    return _outcome(in_transaction(lambda db: four_eyes.edit_branch(db, _actor(), code, data, policy)))


@bp.post("/branches/<code>/secret")
def rotate_secret(code: str) -> ResponseReturnValue:
    secret = in_transaction(lambda db: org.rotate_branch_secret(db, _actor(), code))
    return jsonify(api_secret=secret)


@bp.post("/branches/<code>/counters")
def add_counter(code: str) -> ResponseReturnValue:
    data = _body(CounterCreate)
    return _changed(in_transaction(lambda db: org.add_counter(db, _actor(), code, data)), 201)


@bp.patch("/branches/<code>/counters/<counter>")
def edit_counter(code: str, counter: str) -> ResponseReturnValue:
    data = _body(CounterEdit)
    return _changed(in_transaction(lambda db: org.edit_counter(db, _actor(), code, counter, data)))


# -- branch staff ---------------------------------------------------------------------------------


@bp.get("/staff")
def staff() -> ResponseReturnValue:
    with services().sessions() as db:
        return jsonify(items=org.list_staff(db, request.args.get("branch_code") or None))


@bp.post("/staff")
def create_staff() -> ResponseReturnValue:
    data = _body(StaffCreate)
    return _changed(in_transaction(lambda db: org.create_staff(db, _actor(), data)), 201)


@bp.patch("/staff/<code>")
def edit_staff(code: str) -> ResponseReturnValue:
    data = _body(StaffEdit)
    return _changed(in_transaction(lambda db: org.edit_staff(db, _actor(), code, data)))


# -- center users ---------------------------------------------------------------------------------


@bp.get("/users")
def users() -> ResponseReturnValue:
    with services().sessions() as db:
        return jsonify(items=org.list_users(db))


@bp.post("/users")
def create_user() -> ResponseReturnValue:
    data = _body(UserCreate)
    return _changed(in_transaction(lambda db: org.create_user(db, _actor(), data)), 201)


@bp.patch("/users/<username>")
def edit_user(username: str) -> ResponseReturnValue:
    data = _body(UserEdit)
    policy = approval_policy()
    return _outcome(in_transaction(lambda db: four_eyes.edit_user(db, _actor(), username, data, policy)))


@bp.post("/users/<username>/password")
def reset_password(username: str) -> ResponseReturnValue:
    data = _body(PasswordReset)
    policy = approval_policy()
    return _outcome(in_transaction(lambda db: four_eyes.reset_password(db, _actor(), username, data.password, policy)))


@bp.post("/users/<username>/unlock")
def unlock(username: str) -> ResponseReturnValue:
    return _changed(in_transaction(lambda db: org.unlock_user(db, _actor(), username)))


# -- four eyes ------------------------------------------------------------------------------------


@bp.get("/pending-changes")
def pending_changes() -> ResponseReturnValue:
    return jsonify(items=in_transaction(pc.list_pending))


@bp.post("/pending-changes/<int:change_id>/approve")
def approve_change(change_id: int) -> ResponseReturnValue:
    expire_pending()
    policy = approval_policy()
    return jsonify(in_transaction(lambda db: four_eyes.approve(db, services().store, _actor(), change_id, policy)))


@bp.post("/pending-changes/<int:change_id>/reject")
def reject_change(change_id: int) -> ResponseReturnValue:
    data = request.get_json(silent=True)
    note = data.get("note", "") if isinstance(data, dict) else ""
    if not isinstance(note, str):
        raise CatalogueError("must be text", 400, "note")
    expire_pending()
    return jsonify(change=in_transaction(lambda db: pc.reject(db, _actor(), change_id, note)))
