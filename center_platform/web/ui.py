"""Pages for compliance staff: sign in, search the archive, replay a clip."""

from __future__ import annotations

import unicodedata
from urllib.parse import unquote, urlsplit

from flask import Blueprint, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from center_platform.archive.quality_labels import FINDING_LABELS, VERDICT_LABELS
from center_platform.archive.search import ORIGIN_LABELS, STATES
from center_platform.db.models import ProductType
from center_platform.retention.disputes import disputes_of
from center_platform.web import services
from center_platform.web.recordings_api import (
    BadQuery,
    filters_from_request,
    recording_for,
    run_search,
    sale_view_for,
)
from center_platform.web.roles import landing_page, may
from center_platform.web.user_auth import (
    LoginFailed,
    LoginInvalid,
    LoginThrottled,
    csrf_token,
    current_user,
    end_sessions,
    sign_in,
    start_session,
)
from storage.ascii_numbers import whole_number

bp = Blueprint("ui", __name__)


def home_for(role: str) -> str:
    """Each role lands on the first page it may use."""
    return url_for(landing_page(role))


@bp.get("/")
def index() -> ResponseReturnValue:
    user = current_user()
    return redirect(home_for(user.role) if user else url_for("ui.login"))


def same_site_path(target: str) -> str | None:
    """`target` if it is a path on this site, else None: no scheme or host, nothing a browser would read
    as one ('//host', '/\\host', '/<tab>/host'), also once percent-decoded, however often encoded."""
    if not target or len(target) > 2048:
        return None
    decoded = target
    for _ in range(4):
        decoded = unquote(decoded)
    for text in (target, decoded):
        if not text.startswith("/") or text.startswith("//") or "\\" in text:
            return None
        if any(ch.isspace() or unicodedata.category(ch).startswith("C") for ch in text):
            return None
        parts = urlsplit(text)
        if parts.scheme or parts.netloc:
            return None
    return target


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    error, status = "", 200
    headers: dict[str, str] = {}
    if request.method == "POST":
        try:
            user = sign_in(request.form.get("username", ""), request.form.get("password", ""))
        except LoginInvalid as exc:
            error, status = str(exc), 400
        except LoginThrottled as exc:
            error, status, headers = str(exc), 429, {"Retry-After": str(exc.retry_after_s)}
        except LoginFailed as exc:
            error, status = str(exc), 401
        else:
            start_session(user)
            return redirect(same_site_path(request.args.get("next", "")) or home_for(user.role))
    return render_template("login.html", error=error), status, headers


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    end_sessions()
    return redirect(url_for("ui.login"))


PAGE_SIZE = 50


@bp.get("/recordings")
def recordings() -> ResponseReturnValue:
    error = ""
    page = None
    try:
        f = filters_from_request(g.user)
        offset = whole_number(request.args.get("offset", "") or "0")
        if offset is None:
            raise BadQuery("offset must be a whole number")
        page = run_search(g.user, f, offset, PAGE_SIZE)
    except BadQuery as exc:
        error = str(exc)
    with services().sessions() as db:
        types = db.execute(select(ProductType.code, ProductType.name).order_by(ProductType.code)).all()
    query = {k: v for k, v in request.args.items() if k != "offset" and v.strip()}
    return render_template(
        "recordings.html",
        page=page,
        error=error,
        args=request.args,
        query=query,
        product_types=types,
        states=STATES,
        verdicts=VERDICT_LABELS,
        finding_labels=FINDING_LABELS,
        origin_labels=ORIGIN_LABELS,
        tz=services().display_tz,
        user=g.user,
        csrf=csrf_token(),
    ), (400 if error else 200)


@bp.get("/recordings/<clip_id>")
def player(clip_id: str) -> ResponseReturnValue:
    rec = recording_for(g.user, clip_id)  # 404 / 403 / 410 before the page promises a video
    can_manage_retention = may(g.user.role, "retention_api.retention")
    disputes = []
    if can_manage_retention:  # only who may change retention and disputes sees them
        with services().sessions() as db:
            disputes = disputes_of(db, rec)
    return render_template(
        "player.html",
        clip_id=clip_id,
        rec=rec,
        sale=sale_view_for(g.user, rec),
        user=g.user,
        csrf=csrf_token(),
        tz=services().display_tz,
        can_export=may(g.user.role, "export_api.export"),
        can_manage_retention=can_manage_retention,
        disputes=disputes,
    )
