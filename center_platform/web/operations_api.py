"""Operations JSON: upload status per branch, for system admins and compliance officers."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from center_platform.operations.store_scrub import latest_runs, run_json
from center_platform.operations.upload_status import branch_upload_statuses, status_json
from center_platform.web import services
from storage.database import utcnow

bp = Blueprint("operations_api", __name__, url_prefix="/api/operations")


@bp.get("/uploads")
def uploads() -> ResponseReturnValue:
    with services().sessions() as db:
        rows = branch_upload_statuses(db, utcnow())
    return jsonify(branches=[status_json(r) for r in rows])


@bp.get("/store-scrub")
def store_scrub() -> ResponseReturnValue:
    """The latest passes of the store scrub, newest first, with what each found."""
    return jsonify(runs=[run_json(r) for r in latest_runs(services().sessions)])
