"""Operations page: uploads and heartbeats per branch, times in the center's display time zone."""

from __future__ import annotations

from flask import Blueprint, g, render_template
from flask.typing import ResponseReturnValue

from center_platform.operations.store_scrub import latest_runs
from center_platform.operations.upload_status import branch_upload_statuses
from center_platform.web import services
from center_platform.web.user_auth import csrf_token
from storage.database import utcnow

bp = Blueprint("operations_ui", __name__)


@bp.get("/operations/uploads")
def uploads_page() -> ResponseReturnValue:
    with services().sessions() as db:
        rows = branch_upload_statuses(db, utcnow())
    scrubs = latest_runs(services().sessions, limit=5)
    return render_template(
        "uploads.html", rows=rows, scrubs=scrubs, tz=services().display_tz, user=g.user, csrf=csrf_token()
    )
