"""`/api/admin/branch-config`: each branch's central configuration for system admins, with what the
branch last reported (applied version, or the reason it refused). Settings (upload window, bandwidth
cap, recording limits) apply at once; cameras answer 202 with a proposal a second system admin approves
at `/api/admin/pending-changes/<id>/approve`."""

from __future__ import annotations

from flask import Blueprint, g, jsonify, request
from flask.typing import ResponseReturnValue
from pydantic import BaseModel, ConfigDict, Field

from center_platform.admin import branch_config
from center_platform.admin.catalogue import CatalogueError
from center_platform.web.catalogue_api import approval_policy, in_transaction, parse
from storage.contract.central_config import CentralCounter, CentralLimits, CentralUpload

bp = Blueprint("branch_config_api", __name__, url_prefix="/api/admin/branch-config")


class SettingsEdit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    upload: CentralUpload = Field(default_factory=CentralUpload)
    limits: CentralLimits = Field(default_factory=CentralLimits)


class CamerasEdit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    counters: list[CentralCounter] = Field(max_length=64)


@bp.errorhandler(CatalogueError)
def _refused(exc: CatalogueError) -> ResponseReturnValue:
    return jsonify(error=str(exc), field=exc.field), exc.status


@bp.get("")
def listing() -> ResponseReturnValue:
    return jsonify(items=[s.as_json() for s in in_transaction(branch_config.statuses)])


@bp.get("/<code>")
def one(code: str) -> ResponseReturnValue:
    return jsonify(in_transaction(lambda db: branch_config.statuses(db, code))[0].as_json())


@bp.put("/<code>/settings")
def settings(code: str) -> ResponseReturnValue:
    data = parse(SettingsEdit, request.get_json(silent=True))
    actor = str(g.user.username)
    in_transaction(lambda db: branch_config.set_settings(db, actor, code, data.upload, data.limits))
    return jsonify(in_transaction(lambda db: branch_config.statuses(db, code))[0].as_json())


@bp.put("/<code>/cameras")
def cameras(code: str) -> ResponseReturnValue:
    data = parse(CamerasEdit, request.get_json(silent=True))
    actor = str(g.user.username)
    policy = approval_policy()
    pending = in_transaction(lambda db: branch_config.propose_cameras(db, actor, code, data.counters, policy))
    body = in_transaction(lambda db: branch_config.statuses(db, code))[0].as_json()
    if pending is None:
        return jsonify(body), 200
    return jsonify({**body, "pending": pending}), 202
