"""What a branch pulls of its central configuration (ETag / If-None-Match) and where it reports what it
made of it. Both routes are HMAC-signed by the branch; a center that predates them answers 404, which
the branch takes as "nothing set centrally"."""

from __future__ import annotations

from flask import Blueprint, g, jsonify, request
from flask.typing import ResponseReturnValue
from pydantic import ValidationError
from sqlalchemy import select

from center_platform.admin import branch_config
from center_platform.db.models import Branch
from center_platform.web import services
from center_platform.web.branch_auth import require_branch
from center_platform.web.versioned import versioned_json
from storage.config_file import describe_validation_error
from storage.contract import routes
from storage.contract.central_config import CentralConfigReceipt, CentralConfigReport
from storage.database import utcnow

bp = Blueprint("central_config_api", __name__, url_prefix=routes.PREFIX)


@bp.get(routes.CENTRAL_CONFIG_RULE)
@require_branch
def pull() -> ResponseReturnValue:
    with services().sessions() as db:
        config = branch_config.central_config(db, g.branch_id)
    return versioned_json(config)


@bp.post(routes.CENTRAL_CONFIG_REPORT_RULE)
@require_branch
def report() -> ResponseReturnValue:
    data = request.get_json(silent=True)
    try:
        body = CentralConfigReport.model_validate(data if isinstance(data, dict) else {})
    except ValidationError as exc:
        return jsonify(error=describe_validation_error("report", exc)), 400
    with services().sessions() as db:
        code = db.execute(select(Branch.code).where(Branch.id == g.branch_id)).scalar_one()
        branch_config.record_report(db, g.branch_id, code, body)
        db.commit()
    return jsonify(CentralConfigReceipt(received_at=utcnow()).model_dump(mode="json"))
