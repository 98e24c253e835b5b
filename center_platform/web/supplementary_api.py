"""Supplementary recordings for compliance officers: the list with each one's approval state, and the
decision (approve or reject, always with a reason). Both are audited."""

from __future__ import annotations

from dataclasses import asdict

from flask import Blueprint, g, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from center_platform.archive.supplementary import (
    STATE_LABELS,
    STATES,
    SupplementaryError,
    SupplementaryRow,
    listing,
    record_compliance_decision,
)
from center_platform.audit import trail as audit
from center_platform.db.models import Branch
from center_platform.web import services
from center_platform.web.user_auth import CurrentUser
from storage.manifest import is_clip_id

bp = Blueprint("supplementary_api", __name__, url_prefix="/api/supplementary")


@bp.errorhandler(SupplementaryError)
def _refused(exc: SupplementaryError) -> ResponseReturnValue:
    return jsonify(error=str(exc)), exc.status


def filters() -> tuple[str | None, int | None]:
    """(state, branch id) from the query string; SupplementaryError for a value that names nothing."""
    state = request.args.get("state", "").strip() or None
    if state is not None and state not in STATES:
        raise SupplementaryError(f"未知状态 / unknown state {state!r}", 400)
    code = request.args.get("branch_code", "").strip()
    if not code:
        return state, None
    with services().sessions() as db:
        found = db.execute(select(Branch.id).where(Branch.code == code)).scalar_one_or_none()
    if found is None:
        raise SupplementaryError(f"未知网点 / unknown branch {code}", 400)
    return state, found


def listed(user: CurrentUser, state: str | None, branch_id: int | None) -> list[SupplementaryRow]:
    with services().sessions() as db:
        rows = listing(db, state, branch_id)
        audit.append(
            db, user.username, "supplementary.listed", "supplementary", {"state": state, "branch_id": branch_id}
        )
        db.commit()
    return rows


def row_json(r: SupplementaryRow) -> dict[str, object]:
    d = asdict(r)
    d["started_at"] = r.started_at.isoformat()
    d["sale_at"] = r.sale_at.isoformat() if r.sale_at else None
    d["state_label"] = STATE_LABELS[r.state]
    if r.decided is not None:
        d["decided"] = {**asdict(r.decided), "decided_at": r.decided.decided_at.isoformat()}
    return d


@bp.get("")
def supplementary_list() -> ResponseReturnValue:
    state, branch_id = filters()
    return jsonify(rows=[row_json(r) for r in listed(g.user, state, branch_id)])


@bp.post("/<clip_id>/decision")
def decide(clip_id: str) -> ResponseReturnValue:
    if not is_clip_id(clip_id):
        raise SupplementaryError("无此录像 / no such recording", 404)
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise SupplementaryError("请求须为JSON对象 / the request body must be a JSON object", 400)
    with services().sessions() as db:
        state = record_compliance_decision(
            db, clip_id, str(body.get("decision", "")), str(body.get("reason", "")), g.user.username
        )
        db.commit()
    return jsonify(clip_id=clip_id, state=state, state_label=STATE_LABELS[state])
