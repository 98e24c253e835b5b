"""Branch admin: the branch's supplementary recordings, approved or rejected with a reason
(branch_agent.spool.supplementary_review); each decision goes on to the center."""

from __future__ import annotations

from dataclasses import asdict

from flask import Blueprint, g, jsonify, request
from flask.typing import ResponseReturnValue

from branch_agent.spool.supplementary_review import (
    ReviewRefused,
    SupplementaryClip,
    decide,
    send_decisions,
    supplementary_clips,
)
from branch_agent.web import services
from storage.database import utcnow

bp = Blueprint("supplementary_api", __name__, url_prefix="/api/admin/supplementary")


@bp.errorhandler(ReviewRefused)
def _refused(exc: ReviewRefused) -> ResponseReturnValue:
    return jsonify(error=str(exc)), exc.status


def _json(c: SupplementaryClip) -> dict[str, object]:
    tz = services().tz
    d = asdict(c)
    d["recorded_local"] = c.recorded_at.astimezone(tz).strftime("%Y-%m-%d %H:%M")
    d["sale_local"] = c.sale_at.astimezone(tz).strftime("%Y-%m-%d %H:%M")
    d["recorded_at"], d["sale_at"] = c.recorded_at.isoformat(), c.sale_at.isoformat()
    return d


@bp.get("")
def listing() -> ResponseReturnValue:
    # Polled by the page: nothing here waits on the center (decisions not sent yet go with each sync).
    svc = services()
    return jsonify(clips=[_json(c) for c in supplementary_clips(svc.sessions, utcnow())])


@bp.post("/<clip_id>/decision")
def decision(clip_id: str) -> ResponseReturnValue:
    svc = services()
    body = request.get_json(silent=True) or {}
    decide(svc.sessions, clip_id, str(body.get("decision", "")), str(body.get("reason", "")), str(g.staff_code))
    # Sent at once, so the admin sees whether the center has it; if not, the next sync sends it.
    send_decisions(svc.sessions, svc.client)
    clip = next((c for c in supplementary_clips(svc.sessions, utcnow()) if c.clip_id == clip_id), None)
    return jsonify(clip=_json(clip) if clip else None)
