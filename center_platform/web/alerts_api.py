"""Alerts and devices as JSON, for monitoring systems that poll rather than receive webhooks."""

from __future__ import annotations

from flask import Blueprint, g, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from center_platform.db.models import Branch
from center_platform.operations.alert_delivery import outbox
from center_platform.operations.alerts import AlertError, acknowledge, alert_json, clear, list_alerts
from center_platform.operations.devices import branch_devices
from center_platform.web import services
from storage.database import utcnow

bp = Blueprint("alerts_api", __name__, url_prefix="/api/operations")


@bp.errorhandler(AlertError)
def _refused(exc: AlertError) -> ResponseReturnValue:
    return jsonify(error=str(exc)), 409


@bp.get("/alerts")
def alerts() -> ResponseReturnValue:
    with services().sessions() as db:
        rows = list_alerts(db, include_cleared=request.args.get("cleared") == "1")
        return jsonify(alerts=[alert_json(a) for a in rows])


@bp.post("/alerts/<int:alert_id>/acknowledge")
def acknowledge_alert(alert_id: int) -> ResponseReturnValue:
    return _change(alert_id, "acknowledge")


@bp.post("/alerts/<int:alert_id>/clear")
def clear_alert(alert_id: int) -> ResponseReturnValue:
    return _change(alert_id, "clear")


def _change(alert_id: int, action: str) -> ResponseReturnValue:
    body = request.get_json(silent=True) or {}
    note = str(body.get("note", ""))[:2000] if isinstance(body, dict) else ""
    step = acknowledge if action == "acknowledge" else clear
    with services().sessions() as db:
        alert = step(db, alert_id, g.user.username, note, utcnow(), outbox(services().config.alerts))
        db.commit()
        return jsonify(alert_json(alert))


@bp.get("/devices")
def devices() -> ResponseReturnValue:
    """Every branch's devices without their snapshots (the device page shows those, audited)."""
    out = []
    with services().sessions() as db:
        for branch in db.execute(select(Branch).where(Branch.active.is_(True)).order_by(Branch.code)).scalars():
            for d in branch_devices(db, branch.id):
                out.append(
                    {
                        "branch_code": branch.code,
                        "device_key": d.device_key,
                        "counter_code": d.counter_code,
                        "role": d.role,
                        "name": d.name,
                        "kind": d.kind,
                        "status": d.status,
                        "problem": d.problem,
                        "online": d.online,
                        "fps": d.fps,
                        "last_frame_age_s": d.last_frame_age_s,
                        "errors": d.errors,
                        "dropped_recent": d.dropped_recent,
                        "clock_offset_s": d.clock_offset_s,
                        "manufacturer": d.manufacturer,
                        "model": d.model,
                        "firmware": d.firmware,
                        "has_snapshot": d.snapshot_jpeg is not None,
                        "seen_at": d.seen_at.isoformat(),
                        "changed_at": d.changed_at.isoformat(),
                    }
                )
    return jsonify(devices=out)
