"""The system admin's deletion of a recording whose retention has ended, refused while it is retained or held.

Kept apart from `retention_api`: it lives in the admin area, and admins never reach the evidence routes.
"""

from __future__ import annotations

from flask import Blueprint, g, jsonify
from flask.typing import ResponseReturnValue

from center_platform.audit import trail as audit
from center_platform.db.models import utcnow
from center_platform.retention.disputes import RetentionEventError
from center_platform.retention.events import has_open_dispute
from center_platform.retention.expiry import DueClip, ExpiryReport, delete_clips
from center_platform.web import services
from center_platform.web.retention_api import event_error, recording_of, storage_error
from storage.object_store import StorageError

bp = Blueprint("retention_admin_api", __name__, url_prefix="/api/admin/recordings")
bp.register_error_handler(RetentionEventError, event_error)
bp.register_error_handler(StorageError, storage_error)


@bp.delete("/<clip_id>")
def delete_recording(clip_id: str) -> ResponseReturnValue:
    svc = services()
    actor = g.user.username
    with svc.sessions() as db:
        rec = recording_of(db, clip_id)
        if rec.state == "deleted":
            raise RetentionEventError(f"recording {clip_id} was already deleted", 409)
        now = utcnow()
        refusal = ""
        if rec.legal_hold or has_open_dispute(db, rec):
            refusal = f"recording {clip_id} is under legal hold: a dispute is open"
        elif rec.retain_until >= now:
            local = rec.retain_until.astimezone(svc.display_tz)
            refusal = f"recording {clip_id} is retained until {local:%Y-%m-%d %H:%M %Z} ({rec.retention_reason})"
        if refusal:
            audit.append(
                db,
                actor,
                "retention.delete_refused",
                clip_id,
                {"reason": refusal, "retain_until": rec.retain_until.isoformat()},
            )
            db.commit()
            return jsonify(error=refusal, retain_until=rec.retain_until.isoformat()), 409
        clip = DueClip(
            rec.id,
            rec.clip_id,
            rec.sha256,
            rec.size,
            rec.retain_until,
            rec.retention_rule,
            rec.retention_reason,
            rec.object_key,
            rec.version_id,
        )
        report = ExpiryReport(dry_run=False)
        delete_clips(db, svc.store, [clip], actor, report)
        if report.refused:
            return jsonify(
                error=f"the archive store refused to delete {clip_id}: {'; '.join(report.refused[0].problems)}"
            ), 409
        return jsonify(clip_id=clip_id, state="deleted")
