"""`POST routes.HEARTBEAT`: a branch's minute-by-minute state and its audit lines (HMAC-signed)."""

from __future__ import annotations

import time

from flask import Blueprint, Response, g, jsonify, request
from flask.typing import ResponseReturnValue
from pydantic import ValidationError

from center_platform.operations.heartbeats import record_heartbeat
from center_platform.web import services
from center_platform.web.branch_auth import require_branch
from storage.config_file import describe_validation_error
from storage.contract import routes
from storage.contract.heartbeat import Heartbeat
from storage.contract.request_signing import HEADER_CENTER_TIME
from storage.database import utcnow

bp = Blueprint("heartbeat_api", __name__, url_prefix=routes.PREFIX)


@bp.after_request
def _center_time(resp: Response) -> Response:
    # Every reply tells the branch our clock, which is how it measures its offset.
    resp.headers[HEADER_CENTER_TIME] = str(int(time.time()))
    return resp


@bp.post(routes.HEARTBEAT_RULE)
@require_branch
def heartbeat() -> ResponseReturnValue:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return jsonify(error="request body must be a JSON object"), 400
    try:
        beat = Heartbeat.model_validate(data)
    except ValidationError as exc:
        return jsonify(error=describe_validation_error("heartbeat", exc)), 400
    with services().sessions() as db:
        receipt = record_heartbeat(db, g.branch_id, g.branch_code, beat, utcnow(), services().config.alerts)
    return jsonify(receipt.model_dump(mode="json"))
