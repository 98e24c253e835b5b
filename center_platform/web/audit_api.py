"""`/api/audit/...`: the audit trail and deletion certificates for auditors and system admins.

Reading the trail is itself written to it, once per sign-in for each distinct filter (paging through
one result is one viewing).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, g, jsonify, request, session
from flask.typing import ResponseReturnValue

from center_platform.audit import trail as audit
from center_platform.audit.anchor import stored_checkpoints
from center_platform.audit.query import DELETION_CERTIFICATE, AuditFilter, AuditPage, audit_page, row_json
from center_platform.web import services
from center_platform.web.user_auth import CurrentUser
from storage.ascii_numbers import whole_number

bp = Blueprint("audit_api", __name__, url_prefix="/api/audit")
_KEYS = {"from", "to", "action", "actor", "target", "offset", "limit"}


class BadAuditQuery(ValueError):
    pass


@bp.errorhandler(BadAuditQuery)
def _bad(exc: BadAuditQuery) -> ResponseReturnValue:
    return jsonify(error=str(exc)), 400


def _time(args: Mapping[str, str], name: str) -> datetime | None:
    raw = args.get(name, "").strip()
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise BadAuditQuery(f"{name}: {raw!r} is not an ISO 8601 date-time") from exc
    # A time without offset is what the reader's clock says: the center's display time zone.
    return value if value.tzinfo else value.replace(tzinfo=services().display_tz)


def _int(args: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = args.get(name, "").strip()
    if not raw:
        return default
    value = whole_number(raw)
    if value is None or not low <= value <= high:
        raise BadAuditQuery(f"{name} must be a whole number from {low} to {high}")
    return value


def filter_from_args(args: Mapping[str, str]) -> tuple[AuditFilter, int, int]:
    unknown = set(args) - _KEYS
    if unknown:
        raise BadAuditQuery(f"unknown audit filter {sorted(unknown)[0]!r}")
    text = {k: (args.get(k, "").strip() or None) for k in ("action", "actor", "target")}
    for k, v in text.items():
        if v is not None and len(v) > 128:
            raise BadAuditQuery(f"{k} is longer than 128 characters")
    f = AuditFilter(at_from=_time(args, "from"), at_to=_time(args, "to"), **text)
    if f.at_from and f.at_to and f.at_from >= f.at_to:
        raise BadAuditQuery("from must be before to")
    return f, _int(args, "offset", 0, 0, 100_000_000), _int(args, "limit", 50, 1, 500)


def read_trail(user: CurrentUser, f: AuditFilter, offset: int, limit: int, what: str) -> AuditPage:
    seen = list(session.get("audit_viewed", []))
    key = what + f.key()
    with services().sessions() as db:
        page = audit_page(db, f, offset, limit)
        if key not in seen:
            detail: dict[str, Any] = {"view": what, "filter": f.key(), "total": page.total}
            audit.append(db, user.username, "audit.viewed", what, detail)
            db.commit()
            session["audit_viewed"] = (seen + [key])[-100:]
    return page


def certificate_filter(f: AuditFilter) -> AuditFilter:
    return replace(f, action=DELETION_CERTIFICATE)


def verify_trail(user: CurrentUser) -> dict[str, Any]:
    """What `python -m center_platform audit verify` checks, as JSON; the check itself is audited."""
    svc = services()
    with svc.sessions() as db:
        anchors = audit.Anchors(
            stored_checkpoints(svc.store, svc.config.audit.checkpoint_prefix), svc.config.audit_key()
        )
        problems = audit.verify_chain(db, anchors=anchors)
        result = {
            "intact": not problems,
            "problems": [{"event_id": p.event_id, "problem": p.problem} for p in problems],
        }
        audit.append(
            db, user.username, "audit.verified", "audit_trail", {"intact": not problems, "problems": len(problems)}
        )
        db.commit()
    return result


def _page_json(page: AuditPage) -> Response:
    return jsonify(total=page.total, offset=page.offset, limit=page.limit, rows=[row_json(r) for r in page.rows])


@bp.get("/events")
def events() -> ResponseReturnValue:
    f, offset, limit = filter_from_args(request.args)
    return _page_json(read_trail(g.user, f, offset, limit, "events"))


@bp.get("/certificates")
def certificates() -> ResponseReturnValue:
    f, offset, limit = filter_from_args(request.args)
    return _page_json(read_trail(g.user, certificate_filter(f), offset, limit, "certificates"))


@bp.post("/verify")  # it writes to the trail: a POST with the CSRF token, never a link or an image
def verify() -> ResponseReturnValue:
    result = verify_trail(g.user)
    return jsonify(result)
