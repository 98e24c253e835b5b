"""Alerts page: what is raised, acknowledged and recently cleared; acknowledging and clearing by hand."""

from __future__ import annotations

from flask import Blueprint, flash, g, get_flashed_messages, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from center_platform.operations.alert_delivery import outbox
from center_platform.operations.alerts import KIND_LABELS, STATE_LABELS, AlertError, acknowledge, clear, list_alerts
from center_platform.web import services
from center_platform.web.user_auth import csrf_token
from storage.database import utcnow

bp = Blueprint("alerts_ui", __name__)


def _render(error: str = "", status: int = 200) -> ResponseReturnValue:
    with services().sessions() as db:
        rows = list_alerts(db, include_cleared=True)
    return (
        render_template(
            "alerts.html",
            rows=rows,
            kind_labels=KIND_LABELS,
            state_labels=STATE_LABELS,
            error=error,
            messages=get_flashed_messages(),
            tz=services().display_tz,
            user=g.user,
            csrf=csrf_token(),
        ),
        status,
    )


@bp.get("/operations/alerts")
def page() -> ResponseReturnValue:
    return _render()


@bp.post("/operations/alerts/<int:alert_id>/acknowledge")
def acknowledge_alert(alert_id: int) -> ResponseReturnValue:
    return _change(alert_id, "acknowledge")


@bp.post("/operations/alerts/<int:alert_id>/clear")
def clear_alert(alert_id: int) -> ResponseReturnValue:
    return _change(alert_id, "clear")


def _change(alert_id: int, action: str) -> ResponseReturnValue:
    note = request.form.get("note", "").strip()
    step = acknowledge if action == "acknowledge" else clear
    with services().sessions() as db:
        try:
            alert = step(db, alert_id, g.user.username, note, utcnow(), outbox(services().config.alerts))
        except AlertError as exc:
            db.rollback()
            return _render(error=str(exc), status=409)
        db.commit()
        done = "已确认 / acknowledged" if action == "acknowledge" else "已解除 / cleared"
        flash(f"告警 {alert.id} {done}: {alert.message}")
    return redirect(url_for("alerts_ui.page"))
