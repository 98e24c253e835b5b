"""Deny by default: a request reaches a view only if that view is public or names who may call it.

A view declares its callers with `require_role(...)` (center users) or `require_branch` (HMAC-signed
branch requests); the few views anyone may call are listed in PUBLIC_ENDPOINTS. A route added without
either is refused for everybody, so forgetting a decorator fails closed instead of open.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Flask, abort, current_app, request

log = logging.getLogger(__name__)

# Sign-in, liveness and the branch clock check: nothing behind them reveals or changes evidence.
PUBLIC_ENDPOINTS = frozenset(
    {
        "static",
        "health.health",
        "ui.index",
        "ui.login",
        "ui.logout",
        "session_api.login",
        "branch_api.center_time",
    }
)

bp = Blueprint("access_guard", __name__)


def access_of(app: Flask, endpoint: str) -> tuple[str, frozenset[str]]:
    """("public" | "roles" | "branch" | "undeclared", the roles allowed when "roles")."""
    if endpoint in PUBLIC_ENDPOINTS:
        return "public", frozenset()
    view = app.view_functions.get(endpoint)
    roles = getattr(view, "access_roles", None)
    if roles:
        return "roles", frozenset(roles)
    if getattr(view, "access_branch", False):
        return "branch", frozenset()
    return "undeclared", frozenset()


@bp.before_app_request
def deny_undeclared() -> None:
    endpoint = request.endpoint
    if endpoint is None:
        return  # no route matched: Flask answers 404 or 405 itself
    kind, _ = access_of(current_app, endpoint)  # type: ignore[arg-type]
    if kind == "undeclared":
        log.error("refused %s %s: endpoint %s declares no access rule", request.method, request.path, endpoint)
        abort(403, description="this route declares no access rule")
