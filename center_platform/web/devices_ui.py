"""Device view: every branch's counters and devices (cameras, microphones, GB/T 28181 devices and their
channels) as the latest heartbeats report them, a device's history, and its latest snapshot.

A snapshot is a picture of a branch's counter, perhaps with a customer on it: every look at one is audited.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, g, render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from center_platform.audit import trail as audit
from center_platform.db.models import Branch
from center_platform.db.operations_models import DeviceState
from center_platform.operations.alerts import KIND_LABELS, list_alerts
from center_platform.operations.devices import ROLE_LABELS, STATUS_LABELS, branch_devices, device_history
from center_platform.operations.upload_status import branch_upload_statuses
from center_platform.web import services
from center_platform.web.user_auth import csrf_token
from storage.database import utcnow
from storage.quality.live import FINDING_LABELS

bp = Blueprint("devices_ui", __name__)


def _render(template: str, status: int = 200, **values: object) -> ResponseReturnValue:
    return (
        render_template(
            template,
            tz=services().display_tz,
            user=g.user,
            csrf=csrf_token(),
            role_labels=ROLE_LABELS,
            status_labels=STATUS_LABELS,
            finding_labels=FINDING_LABELS,
            kind_labels=KIND_LABELS,
            **values,
        ),
        status,
    )


def _not_found(zh: str, en: str) -> ResponseReturnValue:
    return _render("devices.html", 404, branches=[], error=f"{zh}不存在 / no such {en}")


@bp.get("/operations/devices")
def page() -> ResponseReturnValue:
    now = utcnow()
    only = request.args.get("branch", "")
    with services().sessions() as db:
        statuses = {s.branch_code: s for s in branch_upload_statuses(db, now)}
        branches = db.execute(select(Branch).where(Branch.active.is_(True)).order_by(Branch.code)).scalars().all()
        shown = [(b, statuses.get(b.code), branch_devices(db, b.id)) for b in branches if not only or b.code == only]
        open_alerts = list_alerts(db, include_cleared=False)
    findings = {
        d.id: json.loads(d.diagnosis_json).get("findings", []) for _, _, ds in shown for d in ds if d.diagnosis_json
    }
    return _render("devices.html", branches=shown, alerts=open_alerts, findings=findings, now=now, error="")


def _device(db_branch_code: str, key: str) -> tuple[Branch, DeviceState] | None:
    with services().sessions() as db:
        branch = db.execute(select(Branch).where(Branch.code == db_branch_code)).scalar_one_or_none()
        if branch is None:
            return None
        row = db.execute(
            select(DeviceState).where(DeviceState.branch_id == branch.id, DeviceState.device_key == key)
        ).scalar_one_or_none()
        return (branch, row) if row is not None else None


@bp.get("/operations/devices/<branch_code>/<path:key>")
def device(branch_code: str, key: str) -> ResponseReturnValue:
    found = _device(branch_code, key)
    if found is None:
        return _not_found("设备", "device")
    branch, row = found
    with services().sessions() as db:
        history = device_history(db, branch.id, key)
        if row.snapshot_jpeg:
            # The page shows the snapshot: the look is audited here, the image fetch again on its own.
            audit.append(db, g.user.username, "device.viewed", f"device:{branch.code}/{key}", {"snapshot": True})
            db.commit()
    diagnosis = json.loads(row.diagnosis_json) if row.diagnosis_json else None
    return _render("device.html", branch=branch, d=row, history=history, diagnosis=diagnosis)


@bp.get("/operations/devices/<branch_code>/<path:key>/snapshot.jpg")
def snapshot(branch_code: str, key: str) -> ResponseReturnValue:
    found = _device(branch_code, key)
    if found is None or not found[1].snapshot_jpeg:
        return _not_found("快照", "snapshot")
    branch, row = found
    with services().sessions() as db:
        audit.append(
            db,
            g.user.username,
            "device.snapshot_viewed",
            f"device:{branch.code}/{key}",
            {"taken_at": row.snapshot_at.isoformat() if row.snapshot_at else None},
        )
        db.commit()
    return Response(row.snapshot_jpeg, mimetype="image/jpeg", headers={"Cache-Control": "no-store"})
