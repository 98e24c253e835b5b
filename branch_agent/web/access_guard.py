"""Deny by default, as on the center: a request reaches a view only if `roles` makes it public or grants it
to the signed-in staff member's role.

This guard is the whole check: it refuses a stranger (401; a page sends them to sign in), a role the
endpoint is not granted to (403; a page sends them back to the counter), and an unsafe method without the
session's CSRF token. An endpoint that `roles` does not name is refused for everybody, so a route added
without a grant fails closed instead of open.
"""

from __future__ import annotations

import logging
import time

from flask import Blueprint, abort, g, redirect, request, session
from flask.typing import ResponseReturnValue

from branch_agent.web.roles import PAGE_ENDPOINTS, PUBLIC_ENDPOINTS, roles_for
from branch_agent.web.staff_auth import csrf_matches, signed_in

log = logging.getLogger(__name__)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SIGN_IN_PAGE = "/"

bp = Blueprint("access_guard", __name__)


def access_of(endpoint: str) -> tuple[str, frozenset[str]]:
    """("public" | "roles" | "undeclared", the roles allowed when "roles")."""
    if endpoint in PUBLIC_ENDPOINTS:
        return "public", frozenset()
    roles = roles_for(endpoint)
    return ("roles", roles) if roles else ("undeclared", frozenset())


@bp.before_app_request
def guard() -> ResponseReturnValue | None:
    endpoint = request.endpoint
    if endpoint is None:
        return None  # no route matched: Flask answers 404 or 405 itself
    kind, roles = access_of(endpoint)
    if kind == "public":
        return None
    if kind == "undeclared":
        log.error("refused %s %s: endpoint %s declares no access rule", request.method, request.path, endpoint)
        abort(403, description="此功能未开放 / this route declares no access rule")
    page = endpoint in PAGE_ENDPOINTS
    if not signed_in():
        if page:
            return redirect(SIGN_IN_PAGE)
        abort(401)
    role = str(session["role"])
    if role not in roles:
        if page:
            return redirect(SIGN_IN_PAGE)
        abort(403, description="无此权限 / your role may not do this")
    if request.method not in SAFE_METHODS and not csrf_matches(request.headers.get("X-CSRF-Token", "")):
        abort(403, description="CSRF 校验失败，请刷新页面 / missing or wrong CSRF token, reload the page")
    # Background polling (preview, status) must not keep an unattended counter signed in.
    if request.headers.get("X-Background-Poll") != "1" and request.args.get("bg") != "1":
        session["seen"] = time.time()
    g.staff_code = session["staff"]
    g.role = role
    return None
