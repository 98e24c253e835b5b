"""Audit pages for auditors and system admins: the trail, the deletion certificates, the chain check."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, render_template, request
from flask.typing import ResponseReturnValue

from center_platform.audit.query import AuditPage
from center_platform.web import services
from center_platform.web.audit_api import (
    BadAuditQuery,
    certificate_filter,
    filter_from_args,
    read_trail,
    verify_trail,
)
from center_platform.web.user_auth import csrf_token

bp = Blueprint("audit_ui", __name__, url_prefix="/audit")


def _page(certificates: bool, chain: dict[str, Any] | None = None) -> ResponseReturnValue:
    args = {k: v for k, v in request.args.items() if v.strip()}
    page: AuditPage | None = None
    error = ""
    try:
        f, offset, limit = filter_from_args(args)
        if certificates:
            page = read_trail(g.user, certificate_filter(f), offset, limit, "certificates")
        else:
            page = read_trail(g.user, f, offset, limit, "events")
    except BadAuditQuery as exc:
        error = str(exc)
    title = "删除证明 Deletion certificates" if certificates else "审计日志 Audit trail"
    return render_template(
        "audit.html",
        title=title,
        page=page,
        chain=chain,
        error=error,
        args=args,
        certificates=certificates,
        tz=services().display_tz,
        user=g.user,
        csrf=csrf_token(),
    ), (400 if error else 200)


@bp.get("")
def events() -> ResponseReturnValue:
    return _page(certificates=False)


@bp.get("/certificates")
def certificates() -> ResponseReturnValue:
    return _page(certificates=True)


@bp.post("/verify")  # the check is audited: a form with the CSRF token runs it, a link cannot
def verify() -> ResponseReturnValue:
    return _page(certificates=False, chain=verify_trail(g.user))
