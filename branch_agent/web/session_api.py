"""Sign in, who am I, sign out."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request, session
from flask.typing import ResponseReturnValue

from branch_agent.web.staff_auth import (
    PASSWORD_MAX,
    STAFF_CODE,
    STAFF_CODE_MAX,
    AccountLocked,
    LoginRefused,
    audit_malformed_login,
    login,
    logout,
    signed_in,
)

bp = Blueprint("session_api", __name__, url_prefix="/api")


def _whoami() -> Response:
    return jsonify(staff_code=session["staff"], name=session["name"], role=session["role"], csrf_token=session["csrf"])


@bp.post("/session")
def sign_in() -> ResponseReturnValue:
    data = request.get_json(silent=True)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return jsonify(error="请求格式有误 / the body must be a JSON object with staff_code and password"), 400
    code, password = str(data.get("staff_code", "")).strip(), str(data.get("password", ""))
    # Refused before anything is looked up or audited: no staff code or password is this long.
    if len(code) > STAFF_CODE_MAX:
        return jsonify(error=f"员工号过长 / the staff code is longer than {STAFF_CODE_MAX} characters"), 400
    if len(password) > PASSWORD_MAX:
        return jsonify(error=f"密码过长 / the password is longer than {PASSWORD_MAX} characters"), 400
    if not STAFF_CODE.fullmatch(code):
        audit_malformed_login(code)
        return jsonify(
            error="员工号有误 / staff code is wrong",
            fields={"staff_code": "员工号为7位数字 / the staff code is 7 digits"},
        ), 422
    if not password:
        return jsonify(
            error="请输入密码 / enter the password", fields={"password": "请输入密码 / password is required"}
        ), 422
    try:
        login(code, password)
    except AccountLocked as exc:
        return jsonify(error=str(exc), locked_until=exc.locked_until.isoformat()), exc.status
    except LoginRefused as exc:
        return jsonify(error=str(exc)), exc.status
    return _whoami()


@bp.get("/session")
def current() -> ResponseReturnValue:
    # Lets a reloaded page pick up its session (and CSRF token) without signing in again.
    if not signed_in():
        return jsonify(error="未登录 / not signed in"), 401
    return _whoami()


@bp.delete("/session")
def sign_out() -> ResponseReturnValue:
    logout()
    return jsonify(ok=True)
