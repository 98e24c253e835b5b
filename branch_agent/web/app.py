"""The branch agent's app factory: counter and admin pages, their JSON API, health."""

from __future__ import annotations

from flask import Flask, jsonify, redirect, render_template, request, session
from werkzeug.exceptions import HTTPException

from branch_agent.counter.session import SessionError
from branch_agent.services import BranchServices

# Chinese first, English second, for errors raised without their own description.
_STATUS_TEXT = {
    400: "请求有误 / bad request",
    401: "请先登录，或会话已超时 / sign in first, or the session timed out",
    403: "无此权限 / not allowed",
    404: "不存在 / not found",
    405: "不支持此操作 / method not allowed",
    413: "请求过大 / request too large",
}


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

    from branch_agent.web import admin_api, clips_api, recording_api, session_api

    for module in (session_api, recording_api, clips_api, admin_api):
        app.register_blueprint(module.bp)

    @app.errorhandler(SessionError)
    def _session_error(exc: SessionError):  # type: ignore[no-untyped-def]
        return jsonify(error=str(exc)), 409

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):  # type: ignore[no-untyped-def]
        if not request.path.startswith("/api/"):
            return exc
        code = exc.code or 500
        default = exc.description == type(exc).description
        return jsonify(error=_STATUS_TEXT.get(code, exc.name) if default else exc.description), code

    @app.after_request
    def _no_framing(resp):  # type: ignore[no-untyped-def]
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        return resp

    @app.get("/")
    def counter_page():  # type: ignore[no-untyped-def]
        return render_template(
            "counter.html",
            branch=services.config.branch.name,
            counters=[(c.code, c.name) for c in services.config.counters],
        )

    @app.get("/admin")
    def admin_page():  # type: ignore[no-untyped-def]
        if session.get("role") != "branch_admin":
            return redirect("/")
        return render_template("admin.html", branch=services.config.branch.name)

    @app.get("/healthz")
    def health():  # type: ignore[no-untyped-def]
        sources = [h for s in services.sources.values() for h in s.health()]
        ok = all(h.connected for h in sources)
        return {
            "status": "ok" if ok else "degraded",
            "sources": [{"name": h.name, "connected": h.connected} for h in sources],
        }, (200 if ok else 503)

    return app
