"""The branch agent's app factory: one blueprint per module of `branch_agent.web`, guarded like the center's."""

from __future__ import annotations

from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from branch_agent.counter.session import SessionError
from branch_agent.services import BranchServices
from storage.web_headers import add_security_headers

# Chinese first, English second, for errors raised without their own description.
_STATUS_TEXT = {
    400: "请求有误 / bad request",
    401: "请先登录，或会话已超时 / sign in first, or the session timed out",
    403: "无此权限 / not allowed",
    404: "不存在 / not found",
    405: "不支持此操作 / method not allowed",
    413: "请求过大 / request too large",
}


def _session_error(exc: SessionError) -> ResponseReturnValue:
    return jsonify(error=str(exc), **exc.details()), exc.status


def _http_error(exc: HTTPException) -> ResponseReturnValue:
    if not request.path.startswith("/api/"):
        return exc
    code = exc.code or 500
    default = exc.description == type(exc).description
    return jsonify(error=_STATUS_TEXT.get(code, exc.name) if default else exc.description), code


def create_app(services: BranchServices, secret_key: str) -> Flask:
    app = Flask(__name__, template_folder="templates", static_folder="static")
    app.config.update(
        SECRET_KEY=secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        MAX_CONTENT_LENGTH=1024 * 1024,
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.extensions["branch"] = services
    app.extensions["previews"] = {}

    from branch_agent.web import (
        access_guard,
        admin_api,
        clips_api,
        health,
        import_api,
        recording_api,
        session_api,
        supplementary_api,
        ui,
    )

    blueprints = (
        access_guard.bp,  # first: it refuses whatever `roles` does not grant, before any other handler runs
        health.bp,
        ui.bp,
        session_api.bp,
        recording_api.bp,
        clips_api.bp,
        admin_api.bp,
        import_api.bp,
        supplementary_api.bp,
    )
    for bp in blueprints:
        app.register_blueprint(bp)
    app.register_error_handler(SessionError, _session_error)
    app.register_error_handler(HTTPException, _http_error)
    app.after_request(add_security_headers)  # no framing, no sniffing, no script or style but the agent's own
    return app
