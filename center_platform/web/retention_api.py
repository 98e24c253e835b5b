"""Retention events over HTTP: redemptions and disputes, for compliance officers (see `roles`).

The system admin's deletion of a recording whose retention has ended is `retention_admin_api`."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date

from flask import Blueprint, g, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import Session

from center_platform.audit import trail as audit
from center_platform.db.models import Recording
from center_platform.retention.disputes import (
    DisputeView,
    RetentionEventError,
    close_dispute,
    disputes_of,
    open_dispute,
    record_redemption,
    retention_history,
)
from center_platform.retention.rules import RetentionError
from center_platform.web import services
from storage.object_store import StorageError

bp = Blueprint("retention_api", __name__, url_prefix="/api/recordings")


@bp.errorhandler(RetentionEventError)
def event_error(exc: RetentionEventError) -> ResponseReturnValue:
    body: dict[str, object] = {"error": str(exc)}
    if exc.field:
        body["field"] = exc.field
    return jsonify(body), exc.status


@bp.errorhandler(RetentionError)
def _rule_error(exc: RetentionError) -> ResponseReturnValue:
    return jsonify(error=f"retention rule cannot be applied: {exc}"), 409


@bp.errorhandler(StorageError)
def storage_error(exc: StorageError) -> ResponseReturnValue:
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


def recording_of(db: Session, clip_id: str) -> Recording:
    rec = db.execute(select(Recording).where(Recording.clip_id == clip_id)).scalar_one_or_none()
    if rec is None:
        raise RetentionEventError(f"no recording {clip_id}", 404)
    return rec


@bp.post("/<clip_id>/redemption")
def redemption(clip_id: str) -> ResponseReturnValue:
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
        rec = recording_of(db, clip_id)
        return jsonify(**_state(rec), moved=change.moved, note=change.note)


@bp.post("/<clip_id>/disputes")
def dispute_open(clip_id: str) -> ResponseReturnValue:
    data = _body()
    svc = services()
    with svc.sessions() as db:
        dispute = open_dispute(db, svc.store, clip_id, _text(data, "reference"), _text(data, "reason"), g.user.username)
        db.commit()
        return jsonify(dispute=asdict(_view(db, dispute.id, clip_id)), **_state(recording_of(db, clip_id))), 201


def _view(db: Session, dispute_id: int, clip_id: str) -> DisputeView:
    return next(d for d in disputes_of(db, recording_of(db, clip_id)) if d.id == dispute_id)


@bp.post("/<clip_id>/disputes/<int:dispute_id>/close")
def dispute_close(clip_id: str, dispute_id: int) -> ResponseReturnValue:
    data = _body()
    svc = services()
    with svc.sessions() as db:
        close_dispute(db, svc.store, clip_id, dispute_id, _text(data, "resolution"), g.user.username)
        db.commit()
        return jsonify(dispute=asdict(_view(db, dispute_id, clip_id)), **_state(recording_of(db, clip_id)))


@bp.get("/<clip_id>/retention")
def retention(clip_id: str) -> ResponseReturnValue:
    svc = services()
    with svc.sessions() as db:
        rec = recording_of(db, clip_id)
        body = {
            **_state(rec),
            "disputes": [asdict(d) for d in disputes_of(db, rec)],
            "history": [asdict(h) for h in retention_history(db, rec)],
        }
        audit.append(db, g.user.username, "retention.viewed", clip_id, {})
        db.commit()
        return jsonify(body)
