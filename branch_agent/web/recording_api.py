"""The counter's recording API: catalogue, serial numbers, start / marker / complete / cancel, status, preview."""

from __future__ import annotations

import json
import secrets
import threading
from datetime import datetime

from flask import Blueprint, Response, abort, current_app, g, jsonify, request
from flask.typing import ResponseReturnValue

from branch_agent.counter.sale_validation import FieldError, normalise_sale_form, validate_sale
from branch_agent.counter.session import CounterSession
from branch_agent.counter.take_origin import take_context_from_form
from branch_agent.db.models import SyncedProduct
from branch_agent.gb28181.service import platform_report
from branch_agent.spool.clip_manifest import SaleInfo
from branch_agent.web import services
from branch_agent.web.camera_status import counter_source_views
from branch_agent.web.preview import PreviewRenderer
from branch_agent.web.roles import sees_whole_branch
from storage.quality.policy import marker_key

bp = Blueprint("recording_api", __name__, url_prefix="/api")
MARKER_KINDS = ("risk_disclosed", "customer_confirmed", "signed", "note")
_previews_lock = threading.Lock()


def _product_json(p: SyncedProduct) -> dict[str, object]:
    return {
        "code": p.code,
        "name": p.name,
        "type_code": p.type_code,
        "type_name": p.type_name,
        "term_days": p.term_days,
        "risk_level": p.risk_level,
        "disclosure_script": p.disclosure_script,
        "required_markers": json.loads(p.required_markers or "[]"),
        "min_duration_s": p.min_duration_s,
    }


@bp.get("/products")
def products() -> ResponseReturnValue:
    return jsonify(products=[_product_json(p) for p in services().products()])


def _counter(code: str) -> CounterSession:
    counter = services().counters.get(code)
    if counter is None:
        abort(404, description=f"没有柜台 {code} / no counter {code}")
    return counter


def _own_recording(code: str) -> CounterSession:
    """The counter, if the signed-in manager is the one recording there."""
    counter = _counter(code)
    active = counter.active_recording()
    if active is not None and active.staff_code != g.staff_code:
        abort(
            403,
            description=f"本柜台正由员工 {active.staff_code} 录像 / staff {active.staff_code} is recording at this counter",
        )
    return counter


@bp.get("/serials/new")
def new_serial() -> ResponseReturnValue:
    # For sales without a teller-system number: branch, date-time and randomness make it unique.
    svc = services()
    stamp = datetime.now(svc.tz).strftime("%Y%m%d%H%M%S")
    return jsonify(business_serial=f"{svc.config.branch.code}-{stamp}-{secrets.token_hex(2).upper()}")


def _form_errors(errors: list[FieldError]) -> ResponseReturnValue:
    return jsonify(
        error="表单有误，请按提示修改 / the form has errors", fields={e.field: e.message for e in errors}
    ), 422


def _sale_from_form(raw: dict[str, str], catalogue: dict[str, SyncedProduct]) -> SaleInfo:
    form = normalise_sale_form(raw)
    product = catalogue[form["product_code"]]
    return SaleInfo(
        business_serial=form["business_serial"],
        customer_name=form["customer_name"],
        id_type=form["id_type"],
        id_number=form["id_number"],
        card_number=form["card_number"],
        product_code=product.code,
        product_name=product.name,
        product_type_code=product.type_code,
    )


@bp.post("/counters/<code>/recording")
def start(code: str) -> ResponseReturnValue:
    counter = _counter(code)
    raw = {k: str(v) for k, v in (request.get_json(silent=True) or {}).items()}
    svc = services()
    catalogue = {p.code: p for p in svc.products()}
    errors = validate_sale(raw, set(catalogue))
    serial = normalise_sale_form(raw)["business_serial"]
    with svc.sessions() as db:
        context = take_context_from_form(raw, serial, db, svc.tz, svc.config.counter_ui.supplementary_max_age_days)
    if isinstance(context, list):
        errors += context
    if errors or isinstance(context, list):
        return _form_errors(errors)
    sale = _sale_from_form(raw, catalogue)
    clip_id = counter.start(g.staff_code, sale, context)
    product = catalogue[sale.product_code]
    return jsonify(
        clip_id=clip_id,
        origin=context.origin,
        disclosure_script=product.disclosure_script,
        required_markers=json.loads(product.required_markers or "[]"),
    ), 201


@bp.post("/counters/<code>/refusal")
def refusal(code: str) -> ResponseReturnValue:
    """The customer refuses to be recorded: the sale is blocked and the refusal goes to the audit trail."""
    counter = _counter(code)
    raw = {k: str(v) for k, v in (request.get_json(silent=True) or {}).items()}
    catalogue = {p.code: p for p in services().products()}
    errors = [e for e in validate_sale({**raw, "consent": "1"}, set(catalogue)) if e.field != "consent"]
    if errors:
        return _form_errors(errors)
    sale = _sale_from_form(raw, catalogue)
    counter.refuse(g.staff_code, sale)
    return jsonify(
        blocked=True,
        message="客户拒绝录音录像，本笔理财销售不得办理；已记录 / the customer refused recording: "
        "this sale must not go ahead; it has been recorded",
    ), 201


@bp.post("/counters/<code>/recording/markers")
def marker(code: str) -> ResponseReturnValue:
    data = request.get_json(silent=True) or {}
    kind, text = str(data.get("kind", "")), str(data.get("text", ""))[:500]
    step = str(data.get("step", "")).strip()[:100]
    if step:
        # A step of the product's teleprompter: one of the marker kinds, or a moment named by the product.
        key = marker_key(step)
        kind, text = (key, "") if key in MARKER_KINDS else ("note", step)
    if kind not in MARKER_KINDS:
        return jsonify(
            error=f"未知标记 / unknown marker kind {kind!r}", fields={"kind": f"one of {', '.join(MARKER_KINDS)}"}
        ), 422
    m = _own_recording(code).add_marker(kind, text)
    return jsonify(kind=m.kind, at_ms=m.at_ms, text=m.text), 201


@bp.post("/counters/<code>/recording/complete")
def complete(code: str) -> ResponseReturnValue:
    reason = str((request.get_json(silent=True) or {}).get("markers_missing_reason", ""))
    summary = _own_recording(code).complete(g.staff_code, reason)
    return jsonify(
        clip_id=summary.clip_id,
        state=summary.state,
        duration_ms=summary.duration_ms,
        size=summary.size,
        sha256=summary.sha256,
        dropped_frames=summary.dropped_frames,
    )


@bp.post("/counters/<code>/recording/cancel")
def cancel(code: str) -> ResponseReturnValue:
    reason = str((request.get_json(silent=True) or {}).get("reason", "")).strip()[:500]
    if not reason:
        return jsonify(error="请填写取消原因 / give a reason for cancelling", fields={"reason": "必填 / required"}), 422
    _own_recording(code).cancel(g.staff_code, reason)
    return jsonify(ok=True)


def counter_status_json(code: str, counter: CounterSession) -> dict[str, object]:
    diagnosis = services().diagnosis
    views = counter_source_views(services().sources[code], diagnosis.for_counter(code) if diagnosis else {})
    active = counter.active_recording()
    recording = None
    if active is not None:
        mine = active.staff_code == g.staff_code
        recording = {
            "clip_id": active.clip_id,
            "staff_code": active.staff_code,
            "mine": mine,
            "elapsed_ms": active.elapsed_ms,
            "engine_failure": active.engine_failure,
            "stalled_sources": list(active.stalled_sources),
        }
        if mine or sees_whole_branch(g.role):
            recording.update(
                business_serial=active.sale.business_serial,
                customer_name=active.sale.customer_name,
                product_code=active.sale.product_code,
                product_name=active.sale.product_name,
                markers=[{"kind": m.kind, "at_ms": m.at_ms, "text": m.text} for m in active.markers],
                steps=[{"name": name, "at_ms": at_ms} for name, at_ms in active.steps],
            )
    status: dict[str, object] = {
        "code": code,
        "name": counter.counter.name,
        "recording": recording,
        "sources": [v.to_json() for v in views],
        "problems": [f"{v.label}（{v.health.name}）：{v.problem}" for v in views if v.problem],
    }
    gb = platform_report(services().gb28181)
    if gb is not None:
        # The branch's one GB/T 28181 platform: every registered device and its channels.
        status["gb28181"] = gb.model_dump(mode="json")
    return status


@bp.get("/counters/<code>/status")
def counter_status(code: str) -> ResponseReturnValue:
    return jsonify(counter_status_json(code, _counter(code)))


@bp.get("/counters/<code>/preview.jpg")
def preview(code: str) -> ResponseReturnValue:
    counter = _counter(code)
    previews: dict[str, PreviewRenderer] = current_app.extensions["previews"]
    with _previews_lock:
        renderer = previews.get(code)
        if renderer is None:
            renderer = previews[code] = PreviewRenderer(services().sources[code], counter.counter.layout)
    return Response(renderer.jpeg(), mimetype="image/jpeg", headers={"Cache-Control": "no-store"})
