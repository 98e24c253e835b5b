"""Deny by default: a request reaches a view only if `roles` makes it public or grants it to the caller.

For user endpoints this guard is the whole check: it signs the user in from the session, refuses a role
the endpoint is not granted to, and refuses an unsafe method without the CSRF token. Branch-signed
endpoints are checked by their `require_branch` decorator, which the guard insists on. An endpoint that
`roles` does not name is refused for everybody, so a forgotten grant fails closed instead of open.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Flask, abort, current_app, g, redirect, request, url_for
from flask.typing import ResponseReturnValue

from center_platform.web.roles import (
    BRANCH_SIGNED_BLUEPRINTS,
    PUBLIC_ENDPOINTS,
    blueprint_of,
    may,
    own_branch_only,
    roles_for,
)
from center_platform.web.user_auth import csrf_matches, current_user

__all__ = ["PUBLIC_ENDPOINTS", "access_of", "bp", "is_page"]

log = logging.getLogger(__name__)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

bp = Blueprint("access_guard", __name__)


def is_page(endpoint: str) -> bool:
    """Pages (`ui`, `*_ui`) send a stranger to the sign-in page; JSON APIs answer 401."""
    blueprint = blueprint_of(endpoint)
    return blueprint == "ui" or blueprint.endswith("_ui")


def access_of(app: Flask, endpoint: str) -> tuple[str, frozenset[str]]:
    """("public" | "roles" | "branch" | "undeclared", the roles allowed when "roles")."""
    if endpoint in PUBLIC_ENDPOINTS:
        return "public", frozenset()
    if blueprint_of(endpoint) in BRANCH_SIGNED_BLUEPRINTS:
        # Granted to branches, but only if the view really checks the signature.
        verified = getattr(app.view_functions.get(endpoint), "access_branch", False)
        return ("branch", frozenset()) if verified else ("undeclared", frozenset())
    roles = roles_for(endpoint)
    return ("roles", roles) if roles else ("undeclared", frozenset())


@bp.before_app_request
def guard() -> ResponseReturnValue | None:
    endpoint = request.endpoint
    if endpoint is None:
        return None  # no route matched: Flask answers 404 or 405 itself
    kind, roles = access_of(current_app, endpoint)
    if kind in ("public", "branch"):
        return None
    if kind == "undeclared":
        log.error("refused %s %s: endpoint %s declares no access rule", request.method, request.path, endpoint)
        abort(403, description="this route declares no access rule")
    user = current_user()
    if user is None:
        if is_page(endpoint):
            return redirect(url_for("ui.login", next=request.path))
        abort(401)
    if user.role not in roles:
        abort(403)
    if request.method not in SAFE_METHODS:
        given = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token", "")
        if not csrf_matches(given):
            abort(403, description="missing or wrong CSRF token")
    g.user = user
    return None


@bp.app_template_global("may")
def may_use(endpoint: str) -> bool:
    """For templates: whether the signed-in user may use `endpoint`, so a page links only where it may."""
    user = g.get("user")
    return user is not None and may(user.role, endpoint)


bp.add_app_template_global(own_branch_only)
