"""`/api/session`: sign in and sign out for center users over JSON (the pages have their own forms)."""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from center_platform.web.user_auth import (
    LoginFailed,
    LoginInvalid,
    LoginThrottled,
    end_sessions,
    sign_in,
    start_session,
)

bp = Blueprint("session_api", __name__, url_prefix="/api/session")


@bp.post("")
def login() -> ResponseReturnValue:
    data = request.get_json(silent=True)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return jsonify(error="the body must be a JSON object with username and password"), 400
    username = str(data.get("username", ""))
    password = str(data.get("password", ""))
    if not username or not password:
        return jsonify(error="username and password are required"), 400
    try:
        user = sign_in(username, password)
    except LoginInvalid as exc:
        return jsonify(error=str(exc)), 400
    except LoginThrottled as exc:
        return jsonify(error=str(exc)), 429, {"Retry-After": str(exc.retry_after_s)}
    except LoginFailed as exc:
        return jsonify(error=str(exc)), 401
    token = start_session(user)
    return jsonify(username=user.username, role=user.role, csrf_token=token)


@bp.delete("")
def logout() -> ResponseReturnValue:
    end_sessions()
    return jsonify(ok=True)
