"""Clip lists and replay. A manager sees and plays only their own clips of today; nobody downloads."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, time
from pathlib import Path
from typing import BinaryIO, NoReturn

from flask import Blueprint, Response, abort, g, jsonify, request, session
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import Session

from branch_agent.db.models import CANCELLED, RECORDING, Clip
from branch_agent.services import BranchServices
from branch_agent.spool.clip_manifest import audit_local
from branch_agent.spool.replay_index import replay_view_of
from branch_agent.spool.take_context import TakeContext
from branch_agent.web import services
from branch_agent.web.roles import sees_whole_branch
from storage.contract.masking import mask_card_number, mask_id_number
from storage.manifest import is_clip_id
from storage.virtual_media import RangeNotServed, answer_range

bp = Blueprint("clips_api", __name__, url_prefix="/api")
LIST_LIMIT = 500
MAX_RANGE_BYTES = 4 * 1024 * 1024  # the most one range request is answered with; the player asks for the rest


def start_of_today_utc(svc: BranchServices) -> datetime:
    """Midnight in the branch's time zone, as UTC: "today" is the branch's day, not the server's."""
    return datetime.combine(datetime.now(svc.tz).date(), time(0), tzinfo=svc.tz).astimezone(UTC)


def clip_json(svc: BranchServices, c: Clip) -> dict[str, object]:
    sale = json.loads(c.sale_json)
    return {
        "clip_id": c.clip_id,
        "business_serial": c.business_serial,
        "counter": c.counter_code,
        "staff_code": c.staff_code,
        "customer_name": sale.get("customer_name", ""),
        "id_type": sale.get("id_type", ""),
        "id_number_masked": mask_id_number(sale.get("id_number", "")),
        "card_number_masked": mask_card_number(sale.get("card_number", "")),
        "product_name": sale.get("product_name", ""),
        "state": c.state,
        "upload_state": c.upload_state,
        "upload_error": c.upload_error,
        "upload_attempts": c.upload_attempts,
        "duration_ms": c.duration_ms,
        "size": c.size,
        "started_local": c.started_at.astimezone(svc.tz).strftime("%Y-%m-%d %H:%M:%S"),
        "media_on_disk": Path(c.media_path).exists(),
        "quality_verdict": c.quality_verdict,
        "origin": TakeContext.from_row(c.context_json).origin,
    }


@bp.get("/clips")
def clips() -> ResponseReturnValue:
    svc = services()
    q = select(Clip).where(Clip.state.not_in((RECORDING, CANCELLED))).order_by(Clip.started_at.desc())
    if not sees_whole_branch(g.role):
        q = q.where(Clip.staff_code == g.staff_code, Clip.started_at >= start_of_today_utc(svc))
    elif request.args.get("date"):
        try:
            day = datetime.strptime(request.args["date"], "%Y-%m-%d").date()
        except ValueError:
            return jsonify(
                error="日期格式应为 YYYY-MM-DD / date must be YYYY-MM-DD", fields={"date": "YYYY-MM-DD"}
            ), 422
        start = datetime.combine(day, time(0), tzinfo=svc.tz).astimezone(UTC)
        end = datetime.combine(day, time.max, tzinfo=svc.tz).astimezone(UTC)
        q = q.where(Clip.started_at >= start, Clip.started_at <= end)
    with svc.sessions() as db:
        rows = db.execute(q.limit(LIST_LIMIT)).scalars().all()
    return jsonify(clips=[clip_json(svc, c) for c in rows])


def _deny(db: Session, clip: Clip, reason: str) -> NoReturn:
    audit_local(db, g.staff_code, "replay.denied", clip.clip_id, {"owner": clip.staff_code, "reason": reason})
    db.commit()
    abort(403, description="只能回放本人当日的录像 / you may replay only your own clips of today")


@bp.get("/clips/<clip_id>/media")
def media(clip_id: str) -> ResponseReturnValue:
    if not is_clip_id(clip_id):
        abort(404)
    svc = services()
    with svc.sessions() as db:
        clip = db.execute(select(Clip).where(Clip.clip_id == clip_id)).scalar_one_or_none()
        if clip is None or clip.state in (RECORDING, CANCELLED):
            abort(404, description="没有这段录像 / no such clip")
        if not sees_whole_branch(g.role):
            if clip.staff_code != g.staff_code:
                _deny(db, clip, "another manager's clip")
            if clip.started_at < start_of_today_utc(svc):
                _deny(db, clip, "not of today")
        if not Path(clip.media_path).exists():
            abort(404, description="录像已上传并从本机清理 / the clip was uploaded and removed from this host")
        # One audit line per clip per sign-in: a player issues many Range requests for one viewing.
        replayed = list(session.get("replayed", []))
        if clip_id not in replayed:
            audit_local(db, g.staff_code, "replay", clip_id, {"role": g.role})
            db.commit()
            # The list lives in the session cookie: kept short to stay well under the 4 KB cookie limit.
            session["replayed"] = (replayed + [clip_id])[-40:]
        path = Path(clip.media_path)
    # Replay at the counter streams and never hands out the whole file in one answer: a request
    # without Range gets the first part, as a player would ask.
    return _replay_response(path, request.headers.get("Range", "") or "bytes=0-")


@bp.get("/clips/<clip_id>/quality")
def quality(clip_id: str) -> ResponseReturnValue:
    """The quality check's verdict on a clip, as soon as the check has run: pass, or each finding with its time."""
    if not is_clip_id(clip_id):
        abort(404)
    svc = services()
    with svc.sessions() as db:
        clip = db.execute(select(Clip).where(Clip.clip_id == clip_id)).scalar_one_or_none()
        if clip is None or clip.state in (RECORDING, CANCELLED):
            abort(404, description="没有这段录像 / no such clip")
        if not sees_whole_branch(g.role) and clip.staff_code != g.staff_code:
            abort(403, description="只能查看本人的录像 / you may see only your own clips")
        business_serial = clip.business_serial
    if svc.quality is None:
        return jsonify(clip_id=clip_id, state="off", business_serial=business_serial)
    verdict = svc.quality.verdict(clip_id)
    body: dict[str, object] = {"clip_id": clip_id, "state": verdict.state, "business_serial": business_serial}
    if verdict.report is not None:
        report = verdict.report
        body.update(
            verdict=report.verdict,
            duration_s=report.duration_s,
            findings=[f.model_dump(mode="json") for f in report.findings],
        )
    if verdict.error:
        body["error"] = verdict.error
    return jsonify(body)


def _replay_response(path: Path, range_header: str) -> ResponseReturnValue:
    """The clip's replay view (its bytes with seek boxes inserted, the file untouched) by HTTP Range."""
    view = replay_view_of(path)
    try:
        answer = answer_range(range_header, view.size, MAX_RANGE_BYTES)
    except RangeNotServed as exc:
        return jsonify(error=str(exc)), 416
    if answer.status == 416:
        return Response(status=416, headers=answer.headers())
    span = view.original_span(answer.start, answer.end) if answer.length else None

    def body() -> Iterator[bytes]:
        with path.open("rb") as f:
            original = _file_range(f, *span) if span else iter(())
            yield from view.read(answer.start, answer.end, original) if answer.length else ()

    # Played in the page, never offered as a download: no attachment disposition, nothing cached.
    resp = Response(body(), status=answer.status, mimetype="video/mp4", headers=answer.headers())
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Content-Disposition"] = "inline"
    return resp


def _file_range(f: BinaryIO, first: int, last: int, chunk: int = 256 * 1024) -> Iterator[bytes]:
    f.seek(first)
    left = last - first + 1
    while left > 0:
        data = f.read(min(chunk, left))
        if not data:
            return
        left -= len(data)
        yield data
