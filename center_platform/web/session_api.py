"""`/api/session`: sign in and sign out for center users over JSON (the pages have their own forms)."""

from __future__ import annotations

from flask import Blueprint, jsonify, request, session
from flask.typing import ResponseReturnValue

from center_platform.web.user_auth import LoginFailed, authenticate, start_session

bp = Blueprint("session_api", __name__, url_prefix="/api/session")


@bp.post("")
def login() -> ResponseReturnValue:
    data = request.get_json(silent=True) or {}
    username = str(data.get("username", ""))
    password = str(data.get("password", ""))
    if not username or not password:
        return jsonify(error="username and password are required"), 400
    try:
        user = authenticate(username, password)
    except LoginFailed as exc:
        return jsonify(error=str(exc)), 401
    token = start_session(user)
    return jsonify(username=user.username, role=user.role, csrf_token=token)


@bp.delete("")
def logout() -> ResponseReturnValue:
    session.clear()
    return jsonify(ok=True)
