"""Operations page: uploads and heartbeats per branch, times in the center's display time zone."""

from __future__ import annotations

from flask import Blueprint, g, render_template

from center_platform.operations.upload_status import branch_upload_statuses
from center_platform.web import services
from center_platform.web.operations_api import OPERATIONS_ROLES
from center_platform.web.user_auth import csrf_token, require_role
from storage.database import utcnow

bp = Blueprint("operations_ui", __name__)


@bp.get("/operations/uploads")
@require_role(*OPERATIONS_ROLES, page=True)
def uploads_page():  # type: ignore[no-untyped-def]
    with services().sessions() as db:
        rows = branch_upload_statuses(db, utcnow())
    return render_template("uploads.html", rows=rows, tz=services().display_tz, user=g.user, csrf=csrf_token())
