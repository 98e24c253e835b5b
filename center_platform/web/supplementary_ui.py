"""Supplementary recordings page for compliance officers: pending ones first, each with the reason it
was recorded after the sale, and a form to approve or reject it with a reason."""

from __future__ import annotations

from flask import Blueprint, flash, g, get_flashed_messages, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from center_platform.archive.supplementary import (
    DECIDED_AS_LABELS,
    PENDING,
    STATE_LABELS,
    STATES,
    SupplementaryError,
    SupplementaryRow,
    record_compliance_decision,
)
from center_platform.db.models import Branch
from center_platform.web import services
from center_platform.web.supplementary_api import filters, listed
from center_platform.web.user_auth import csrf_token

bp = Blueprint("supplementary_ui", __name__)


def _render(error: str = "", status: int = 200) -> ResponseReturnValue:
    rows: list[SupplementaryRow] = []
    try:
        state, branch_id = filters() if request.args else (PENDING, None)
        rows = listed(g.user, state, branch_id)
    except SupplementaryError as exc:
        error, status = str(exc), exc.status
        state = None
    with services().sessions() as db:
        branches = list(db.execute(select(Branch.code, Branch.name).order_by(Branch.code)).tuples())
    return render_template(
        "supplementary.html",
        rows=rows,
        state=state,
        states=STATES,
        state_labels=STATE_LABELS,
        decided_as_labels=DECIDED_AS_LABELS,
        branches=branches,
        args=request.args,
        tz=services().display_tz,
        error=error,
        messages=get_flashed_messages(),
        user=g.user,
        csrf=csrf_token(),
    ), status


@bp.get("/supplementary")
def page() -> ResponseReturnValue:
    return _render()


@bp.post("/supplementary/<clip_id>")
def decide(clip_id: str) -> ResponseReturnValue:
    with services().sessions() as db:
        try:
            state = record_compliance_decision(
                db, clip_id, request.form.get("decision", ""), request.form.get("reason", ""), g.user.username
            )
        except SupplementaryError as exc:
            return _render(error=str(exc), status=exc.status)
        db.commit()
    flash(f"补录 {clip_id[:8]}… {STATE_LABELS[state]}")
    return redirect(url_for("supplementary_ui.page"))
