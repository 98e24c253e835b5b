"""Pages for compliance staff: sign in, search the archive, replay a clip."""

from __future__ import annotations

from flask import Blueprint, g, redirect, render_template, request, session, url_for

from center_platform.http.recordings_api import BadQuery, filters_from_request
from center_platform.http.user_auth import (
    BRANCH_ADMIN,
    COMPLIANCE,
    LoginFailed,
    authenticate,
    csrf_token,
    require_role,
    start_session,
)
from center_platform.http import services
from center_platform.search import search

bp = Blueprint("ui", __name__)


@bp.get("/")
def index():  # type: ignore[no-untyped-def]
    return redirect(url_for("ui.recordings"))


@bp.route("/login", methods=["GET", "POST"])
def login():  # type: ignore[no-untyped-def]
    error = ""
    if request.method == "POST":
        try:
            user = authenticate(request.form.get("username", ""), request.form.get("password", ""))
        except LoginFailed as exc:
            error = str(exc)
        else:
            start_session(user)
            target = request.args.get("next", "")
            return redirect(target if target.startswith("/") and not target.startswith("//") else url_for("ui.recordings"))
    return render_template("login.html", error=error), (401 if error else 200)


@bp.post("/logout")
def logout():  # type: ignore[no-untyped-def]
    session.clear()
    return redirect(url_for("ui.login"))


@bp.get("/recordings")
@require_role(COMPLIANCE, BRANCH_ADMIN, page=True)
def recordings():  # type: ignore[no-untyped-def]
    error = ""
    page = None
    try:
        f = filters_from_request(g.user)
        with services().sessions() as db:
            page = search(db, f, 0, 50, unmasked=g.user.role == COMPLIANCE)
    except BadQuery as exc:
        error = str(exc)
    return render_template(
        "recordings.html", page=page, error=error, args=request.args, tz=services().display_tz, user=g.user, csrf=csrf_token()
    )


@bp.get("/recordings/<clip_id>")
@require_role(COMPLIANCE, BRANCH_ADMIN, page=True)
def player(clip_id: str):  # type: ignore[no-untyped-def]
    return render_template("player.html", clip_id=clip_id, user=g.user, csrf=csrf_token())
