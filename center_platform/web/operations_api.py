"""Operations JSON: upload status per branch, for system admins and compliance officers."""

from __future__ import annotations

from flask import Blueprint, jsonify

from center_platform.operations.upload_status import branch_upload_statuses, status_json
from center_platform.web import services
from center_platform.web.user_auth import COMPLIANCE, SYSTEM_ADMIN, require_role
from storage.database import utcnow

bp = Blueprint("operations_api", __name__, url_prefix="/api/operations")
OPERATIONS_ROLES = (SYSTEM_ADMIN, COMPLIANCE)


@bp.get("/uploads")
@require_role(*OPERATIONS_ROLES)
def uploads():  # type: ignore[no-untyped-def]
    with services().sessions() as db:
        rows = branch_upload_statuses(db, utcnow())
    return jsonify(branches=[status_json(r) for r in rows])
