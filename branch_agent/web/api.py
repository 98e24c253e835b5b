"""The counter's JSON API: sign in, catalogue, start / marker / complete / cancel, own clips, replay."""

from __future__ import annotations

from datetime import datetime, time, timezone
from pathlib import Path

from flask import Blueprint, abort, g, jsonify, request, send_file, session
from sqlalchemy import select

from branch_agent.clip_manifest import SaleInfo, audit_local
from branch_agent.counter_session import SessionError
from branch_agent.db.models import CANCELLED, RECORDING, Clip
from branch_agent.sale_validation import validate_sale
from branch_agent.web.staff_auth import ADMIN, RM, LoginRefused, login, require_staff, services
from storage.manifest import is_clip_id

bp = Blueprint("counter_api", __name__, url_prefix="/api")


@bp.errorhandler(SessionError)
def _session_error(exc: SessionError):  # type: ignore[no-untyped-def]
    return jsonify(error=str(exc)), 409


@bp.post("/session")
def sign_in():  # type: ignore[no-untyped-def]
    data = request.get_json(silent=True) or {}
    try:
        staff = login(str(data.get("staff_code", "")), str(data.get("password", "")))
    except LoginRefused as exc:
        return jsonify(error=str(exc)), 401
    return jsonify(staff_code=staff.code, name=staff.name, role=staff.role, csrf_token=session["csrf"])


@bp.get("/products")
@require_staff(RM, ADMIN)
def products():  # type: ignore[no-untyped-def]
    return jsonify(products=[{"code": p.code, "name": p.name, "type_code": p.type_code, "type_name": p.type_name,
                              "term_days": p.term_days, "risk_level": p.risk_level, "disclosure_script": p.disclosure_script}
                             for p in services().products()])


def _counter(code: str):  # type: ignore[no-untyped-def]
    counter = services().counters.get(code)
    if counter is None:
        abort(404, description=f"no counter {code}")
    return counter


@bp.post("/counters/<code>/recording")
@require_staff(RM)
def start(code: str):  # type: ignore[no-untyped-def]
    counter = _counter(code)
    form = {k: str(v) for k, v in (request.get_json(silent=True) or {}).items()}
    products = {p.code: p for p in services().products()}
    errors = validate_sale(form, set(products))
    if errors:
        return jsonify(error="表单有误 / the form has errors", fields={e.field: e.message for e in errors}), 422
    product = products[form["product_code"]]
    sale = SaleInfo(
        business_serial=form["business_serial"].strip(), customer_name=form["customer_name"].strip(),
        id_type=form["id_type"], id_number=form["id_number"].strip().upper(), card_number=form["card_number"].strip(),
        product_code=product.code, product_name=product.name, product_type_code=product.type_code,
    )
    clip_id = counter.start(g.staff_code, sale)
    return jsonify(clip_id=clip_id, disclosure_script=product.disclosure_script), 201


@bp.post("/counters/<code>/recording/markers")
@require_staff(RM)
def marker(code: str):  # type: ignore[no-untyped-def]
    data = request.get_json(silent=True) or {}
    kind = str(data.get("kind", ""))
    if kind not in ("risk_disclosed", "customer_confirmed", "signed", "note"):
        return jsonify(error=f"unknown marker kind {kind!r}"), 422
    m = _counter(code).add_marker(kind, str(data.get("text", ""))[:500])
    return jsonify(kind=m.kind, at_ms=m.at_ms), 201


@bp.post("/counters/<code>/recording/complete")
@require_staff(RM)
def complete(code: str):  # type: ignore[no-untyped-def]
    summary = _counter(code).complete(g.staff_code)
    return jsonify(clip_id=summary.clip_id, state=summary.state, duration_ms=summary.duration_ms, size=summary.size, sha256=summary.sha256)


@bp.post("/counters/<code>/recording/cancel")
@require_staff(RM)
def cancel(code: str):  # type: ignore[no-untyped-def]
    reason = str((request.get_json(silent=True) or {}).get("reason", ""))
    _counter(code).cancel(g.staff_code, reason)
    return jsonify(ok=True)


@bp.get("/clips")
@require_staff(RM, ADMIN)
def clips():  # type: ignore[no-untyped-def]
    svc = services()
    q = select(Clip).where(Clip.state.not_in((RECORDING, CANCELLED))).order_by(Clip.started_at.desc())
    if g.role == RM:
        # A manager sees only their own clips of today (branch time).
        today = datetime.combine(datetime.now(svc.tz).date(), time(0), tzinfo=svc.tz).astimezone(timezone.utc)
        q = q.where(Clip.staff_code == g.staff_code, Clip.started_at >= today)
    with svc.sessions() as db:
        rows = db.execute(q.limit(500)).scalars().all()
    return jsonify(clips=[{
        "clip_id": c.clip_id, "business_serial": c.business_serial, "counter": c.counter_code, "staff_code": c.staff_code,
        "state": c.state, "upload_state": c.upload_state, "duration_ms": c.duration_ms, "size": c.size,
        "started_local": c.started_at.astimezone(svc.tz).strftime("%Y-%m-%d %H:%M:%S"),
    } for c in rows])


@bp.get("/clips/<clip_id>/media")
@require_staff(RM, ADMIN)
def media(clip_id: str):  # type: ignore[no-untyped-def]
    if not is_clip_id(clip_id):
        abort(404)
    svc = services()
    with svc.sessions() as db:
        clip = db.execute(select(Clip).where(Clip.clip_id == clip_id)).scalar_one_or_none()
        if clip is None or clip.state in (RECORDING, CANCELLED) or not Path(clip.media_path).exists():
            abort(404)
        if g.role == RM and clip.staff_code != g.staff_code:
            audit_local(db, g.staff_code, "replay.denied", clip_id, {"owner": clip.staff_code})
            db.commit()
            abort(403)
        # One audit line per clip per sign-in: a player issues many Range requests for one viewing.
        replayed = list(session.get("replayed", []))
        if clip_id not in replayed:
            audit_local(db, g.staff_code, "replay", clip_id, {})
            db.commit()
            session["replayed"] = (replayed + [clip_id])[-200:]
        path = Path(clip.media_path)
    # Managers may play but not download: no attachment disposition, no caching.
    resp = send_file(path, mimetype="video/mp4", conditional=True, max_age=0)
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.post("/uploads/run")
@require_staff(ADMIN)
def upload_now():  # type: ignore[no-untyped-def]
    results = services().uploader.run_once()
    return jsonify(results=[{"clip_id": r.clip_id, "state": r.state, "parts_sent": r.parts_sent, "detail": r.detail} for r in results])


@bp.get("/status")
@require_staff(RM, ADMIN)
def status():  # type: ignore[no-untyped-def]
    svc = services()
    return jsonify(counters=[{
        "code": code, "recording": session_.active_clip,
        "sources": [{"name": h.name, "connected": h.connected, "fps": round(h.fps, 1), "detail": h.detail} for h in svc.sources[code].health()],
    } for code, session_ in svc.counters.items()], upload_queue=len(svc.uploader.queue()))
