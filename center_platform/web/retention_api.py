"""Retention events over HTTP: redemptions and disputes (compliance officers), and the system admin's
deletion of a clip whose retention has ended."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date

from flask import Blueprint, g, jsonify, request
from sqlalchemy import select

from center_platform.audit import trail as audit
from center_platform.db.models import Recording, utcnow
from center_platform.retention.disputes import (
    DisputeView,
    RetentionEventError,
    close_dispute,
    disputes_of,
    open_dispute,
    record_redemption,
    retention_history,
)
from center_platform.retention.events import has_open_dispute
from center_platform.retention.expiry import DueClip, ExpiryReport, delete_clips
from center_platform.retention.rules import RetentionError
from center_platform.web import services
from center_platform.web.user_auth import COMPLIANCE, SYSTEM_ADMIN, require_role
from storage.object_store import StorageError

bp = Blueprint("retention_api", __name__, url_prefix="/api/recordings")
# The system admin's deletion lives in the admin area: admins never reach the evidence routes.
admin_bp = Blueprint("retention_admin_api", __name__, url_prefix="/api/admin/recordings")


@admin_bp.errorhandler(RetentionEventError)
@bp.errorhandler(RetentionEventError)
def _event_error(exc: RetentionEventError):  # type: ignore[no-untyped-def]
    body: dict[str, object] = {"error": str(exc)}
    if exc.field:
        body["field"] = exc.field
    return jsonify(body), exc.status


@bp.errorhandler(RetentionError)
def _rule_error(exc: RetentionError):  # type: ignore[no-untyped-def]
    return jsonify(error=f"retention rule cannot be applied: {exc}"), 409


@admin_bp.errorhandler(StorageError)
@bp.errorhandler(StorageError)
def _storage_error(exc: StorageError):  # type: ignore[no-untyped-def]
    return jsonify(error=f"the archive store refused: {exc}"), 502


def _body() -> dict[str, object]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise RetentionEventError("the request body must be a JSON object")
    return data


def _text(data: dict[str, object], name: str) -> str:
    value = data.get(name, "")
    if not isinstance(value, str):
        raise RetentionEventError(f"{name} must be text", 400, name)
    return value


def _state(rec: Recording) -> dict[str, object]:
    tz = services().display_tz
    return {
        "clip_id": rec.clip_id,
        "state": rec.state,
        "retain_until": rec.retain_until.isoformat(),
        "retain_until_local": rec.retain_until.astimezone(tz).isoformat(),
        "retention_rule": rec.retention_rule,
        "retention_reason": rec.retention_reason,
        "legal_hold": rec.legal_hold,
        "redeemed_on": rec.redeemed_on.isoformat() if rec.redeemed_on else None,
    }


def _recording(db, clip_id: str) -> Recording:  # type: ignore[no-untyped-def]
    rec = db.execute(select(Recording).where(Recording.clip_id == clip_id)).scalar_one_or_none()
    if rec is None:
        raise RetentionEventError(f"no recording {clip_id}", 404)
    return rec


@bp.post("/<clip_id>/redemption")
@require_role(COMPLIANCE)
def redemption(clip_id: str):  # type: ignore[no-untyped-def]
    data = _body()
    raw = _text(data, "redeemed_on").strip()
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise RetentionEventError(f"redeemed_on: {raw!r} is not a date (YYYY-MM-DD)", 400, "redeemed_on") from None
    svc = services()
    with svc.sessions() as db:
        change = record_redemption(db, svc.store, clip_id, day, g.user.username)
        db.commit()
        rec = _recording(db, clip_id)
        return jsonify(**_state(rec), moved=change.moved, note=change.note)


@bp.post("/<clip_id>/disputes")
@require_role(COMPLIANCE)
def dispute_open(clip_id: str):  # type: ignore[no-untyped-def]
    data = _body()
    svc = services()
    with svc.sessions() as db:
        dispute = open_dispute(db, svc.store, clip_id, _text(data, "reference"), _text(data, "reason"), g.user.username)
        db.commit()
        return jsonify(dispute=asdict(_view(db, dispute.id, clip_id)), **_state(_recording(db, clip_id))), 201


def _view(db, dispute_id: int, clip_id: str) -> DisputeView:  # type: ignore[no-untyped-def]
    return next(d for d in disputes_of(db, _recording(db, clip_id)) if d.id == dispute_id)


@bp.post("/<clip_id>/disputes/<int:dispute_id>/close")
@require_role(COMPLIANCE)
def dispute_close(clip_id: str, dispute_id: int):  # type: ignore[no-untyped-def]
    data = _body()
    svc = services()
    with svc.sessions() as db:
        close_dispute(db, svc.store, clip_id, dispute_id, _text(data, "resolution"), g.user.username)
        db.commit()
        return jsonify(dispute=asdict(_view(db, dispute_id, clip_id)), **_state(_recording(db, clip_id)))


@bp.get("/<clip_id>/retention")
@require_role(COMPLIANCE)
def retention(clip_id: str):  # type: ignore[no-untyped-def]
    svc = services()
    with svc.sessions() as db:
        rec = _recording(db, clip_id)
        body = {
            **_state(rec),
            "disputes": [asdict(d) for d in disputes_of(db, rec)],
            "history": [asdict(h) for h in retention_history(db, rec)],
        }
        audit.append(db, g.user.username, "retention.viewed", clip_id, {})
        db.commit()
        return jsonify(body)


@admin_bp.delete("/<clip_id>")
@require_role(SYSTEM_ADMIN)
def delete_recording(clip_id: str):  # type: ignore[no-untyped-def]
    svc = services()
    actor = g.user.username
    with svc.sessions() as db:
        rec = _recording(db, clip_id)
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
