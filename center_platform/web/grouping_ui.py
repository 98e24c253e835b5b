"""The archive by product type, branch and day: a period's clip counts, with a link to each group's clips
in search and, for compliance officers, the export of a product type's clips of the period."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

from flask import Blueprint, g, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from center_platform.archive.grouping import GroupDay, GroupingError
from center_platform.db.models import Branch, ProductType
from center_platform.web import hardening, services
from center_platform.web.grouping_api import export_response, listed
from center_platform.web.user_auth import csrf_token

bp = Blueprint("grouping_ui", __name__)


def search_href(product_type: str, branch_code: str, day: date) -> str:
    """The search page over one group's clips."""
    query: dict[str, str] = {
        "product_type": product_type,
        "branch_code": branch_code,
        "from": f"{day.isoformat()}T00:00",
        "to": f"{(day + timedelta(days=1)).isoformat()}T00:00",
    }
    return url_for("ui.recordings", **query)  # type: ignore[arg-type]


@bp.get("/recordings/groups")
def page() -> ResponseReturnValue:
    return _render(dict(request.args))


@bp.post("/recordings/groups/export")
@hardening.bounded(  # the same slots as every evidence export: [security] max_concurrent_exports
    hardening.EXPORT_SLOTS,
    "导出任务已满，请稍后再试 / too many evidence exports at once: try again in a minute",
    retry_after_s=60,
)
def export() -> ResponseReturnValue:
    args = {k: v for k, v in request.form.items() if k != "csrf_token"}
    try:
        return export_response(g.user, args)
    except GroupingError as exc:
        return _render(args, exc)


def _render(args: dict[str, str], failed: GroupingError | None = None) -> ResponseReturnValue:
    error, status = (str(failed), failed.status) if failed else ("", 200)
    rows: list[GroupDay] = []
    try:
        period, rows = listed(g.user, args)
        args.setdefault("day_from", period.day_from.isoformat())
        args.setdefault("day_to", period.day_to.isoformat())
    except GroupingError as exc:
        error, status = str(exc), exc.status
    by_type: dict[tuple[str, str], list[GroupDay]] = defaultdict(list)
    for r in rows:
        by_type[(r.product_type, r.product_type_name)].append(r)
    with services().sessions() as db:
        types = list(db.execute(select(ProductType.code, ProductType.name).order_by(ProductType.code)).tuples())
        branches = list(db.execute(select(Branch.code, Branch.name).order_by(Branch.code)).tuples())
    return render_template(
        "groups.html",
        by_type=dict(by_type),
        types=types,
        branches=branches,
        args=args,
        search_href=search_href,
        error=error,
        user=g.user,
        csrf=csrf_token(),
    ), status
