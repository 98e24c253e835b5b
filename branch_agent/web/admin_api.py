"""Branch admin: cameras per counter, disk and days left, upload queue, upload now, sync and heartbeat state."""

from __future__ import annotations

from dataclasses import asdict

from flask import Blueprint, g, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from branch_agent.center_link.central_config import central_config_status
from branch_agent.center_link.sync import center_branch_view, config_mismatches, sync_reports
from branch_agent.db.models import PENDING, UPLOADED, UPLOADING, Clip
from branch_agent.spool.clip_manifest import audit_local
from branch_agent.spool.disk_guard import find_shortage
from branch_agent.spool.usage import measure_spool_disk
from branch_agent.upload.uploader import UploadAlreadyRunning
from branch_agent.web import services
from branch_agent.web.recording_api import counter_status_json
from storage.database import utcnow

bp = Blueprint("admin_api", __name__, url_prefix="/api")


@bp.get("/status")
def status() -> ResponseReturnValue:
    svc = services()
    return jsonify(
        counters=[counter_status_json(code, c) for code, c in svc.counters.items()],
        upload_queue=len(svc.uploader.queue()),
    )


@bp.get("/admin/overview")
def overview() -> ResponseReturnValue:
    svc = services()
    with svc.sessions() as db:
        queue = (
            db.execute(
                select(Clip).where(Clip.upload_state.in_((PENDING, UPLOADING, UPLOADED))).order_by(Clip.started_at)
            )
            .scalars()
            .all()
        )
        queued = [
            {
                "clip_id": c.clip_id,
                "business_serial": c.business_serial,
                "upload_state": c.upload_state,
                "size": c.size,
                "attempts": c.upload_attempts,
                "error": c.upload_error,
                "started_local": c.started_at.astimezone(svc.tz).strftime("%Y-%m-%d %H:%M:%S"),
            }
            for c in queue
        ]
    disk = measure_spool_disk(svc.sessions, svc.config.spool_dir, utcnow())
    shortage = find_shortage(svc.config.spool, disk)
    view = center_branch_view(svc.sessions)
    return jsonify(
        branch={"code": svc.config.branch.code, "name": svc.config.branch.name},
        counters=[counter_status_json(code, c) for code, c in svc.counters.items()],
        disk=asdict(disk),
        upload_queue=queued,
        upload_running=svc.uploader.running,
        upload_window={"start": svc.config.upload.window_start, "end": svc.config.upload.window_end},
        disk_alert=shortage.message if shortage else None,
        sync=[r.model_dump(mode="json") for r in sync_reports(svc.sessions)],
        center_branch=view.model_dump() if view else None,
        config_mismatches=config_mismatches(svc.config, view) if view else [],
        heartbeat=asdict(svc.last_heartbeat) if svc.last_heartbeat else None,
        central_config=asdict(central_config_status(svc.sessions)),
    )


def _busy(exc: UploadAlreadyRunning) -> ResponseReturnValue:
    return jsonify(error=str(exc), upload_running=True), 409


@bp.post("/uploads/run")
def upload_now() -> ResponseReturnValue:
    svc = services()
    # Checked first so that a press while the schedule uploads is not audited as a run; the uploader's
    # own lock still decides if another run starts in between.
    if svc.uploader.running:
        return _busy(UploadAlreadyRunning())
    with svc.sessions() as db:
        audit_local(db, g.staff_code, "upload.run", "branch", {"queued": len(svc.uploader.queue())})
        db.commit()
    try:
        results = svc.uploader.run_once()
    except UploadAlreadyRunning as exc:
        return _busy(exc)
    return jsonify(
        results=[
            {"clip_id": r.clip_id, "state": r.state, "parts_sent": r.parts_sent, "detail": r.detail} for r in results
        ]
    )


@bp.post("/admin/diagnosis")
def diagnose_now() -> ResponseReturnValue:
    """Every camera diagnosed now, instead of at the next scheduled round."""
    svc = services()
    if svc.diagnosis is None:
        return jsonify(error="画面诊断已在配置中关闭 / live diagnosis is turned off in the configuration"), 409
    results = svc.diagnosis.run()
    return jsonify(
        results=[
            {"counter": code, "role": role, "at": r.at.isoformat(), "findings": list(r.findings)}
            for (code, role), r in sorted(results.items())
        ]
    )


@bp.post("/admin/diagnosis/<code>/reference")
def set_reference(code: str) -> ResponseReturnValue:
    """A camera's current picture (body: {"role": "environment" | "desk"}) becomes the one later
    pictures are compared with, after the camera was moved on purpose."""
    svc = services()
    body = request.get_json(silent=True)
    role = str(body.get("role", "")) if isinstance(body, dict) else ""
    counter = code
    if svc.diagnosis is None:
        return jsonify(error="画面诊断已在配置中关闭 / live diagnosis is turned off in the configuration"), 409
    try:
        r = svc.diagnosis.set_reference(counter, role)
    except KeyError:
        return jsonify(error="没有该摄像头 / no such camera"), 404
    except LookupError as exc:
        return jsonify(error=str(exc)), 409
    with svc.sessions() as db:
        audit_local(db, g.staff_code, "diagnosis.reference", f"{counter}/{role}", {"findings": list(r.findings)})
        db.commit()
    return jsonify(counter=counter, role=role, at=r.at.isoformat(), findings=list(r.findings))
