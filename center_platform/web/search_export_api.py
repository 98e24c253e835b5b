"""The search result list downloaded as CSV or XLSX, audited with the filters and the row count."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from flask import Blueprint, Response, g, jsonify, stream_with_context
from flask.typing import ResponseReturnValue

from center_platform.archive.search import SearchFilters, all_matches, count_matches
from center_platform.archive.search_export import EXPORT_MAX, csv_chunks, xlsx_bytes
from center_platform.audit import trail as audit
from center_platform.web import services
from center_platform.web.recordings_api import BadQuery, audit_filters, filters_from_request
from center_platform.web.roles import sees_full_identifiers
from center_platform.web.user_auth import CurrentUser

bp = Blueprint("search_export_api", __name__, url_prefix="/api/recordings")


@bp.errorhandler(BadQuery)
def _bad(exc: BadQuery) -> ResponseReturnValue:
    return jsonify(error=str(exc)), 400


def _checked(user: CurrentUser, fmt: str) -> tuple[SearchFilters, int]:
    f = filters_from_request(user)
    with services().sessions() as db:
        n = count_matches(db, f, EXPORT_MAX + 1)
        if n > EXPORT_MAX:
            raise BadQuery(
                f"the search matches more than {EXPORT_MAX} recordings; narrow it (time range, branch, product) to export"
            )
        audit.append(db, user.username, "search.exported", f"list.{fmt}", {"rows": n, "filters": audit_filters(f)})
        db.commit()
    return f, n


def _filename(fmt: str) -> str:
    return f"recordings-{datetime.now(services().display_tz):%Y%m%d-%H%M%S}.{fmt}"


@bp.get("/export.csv")
def export_csv() -> ResponseReturnValue:
    user: CurrentUser = g.user
    f, _ = _checked(user, "csv")
    tz = services().display_tz
    sessions = services().sessions

    def body() -> Iterator[str]:
        with sessions() as db:
            yield from csv_chunks(all_matches(db, f, unmasked=sees_full_identifiers(user.role)), tz)

    resp = Response(stream_with_context(body()), mimetype="text/csv; charset=utf-8")
    resp.headers["Content-Disposition"] = f'attachment; filename="{_filename("csv")}"'
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/export.xlsx")
def export_xlsx() -> ResponseReturnValue:
    user: CurrentUser = g.user
    f, _ = _checked(user, "xlsx")
    with services().sessions() as db:
        data = xlsx_bytes(
            all_matches(db, f, unmasked=sees_full_identifiers(user.role)), services().display_tz, "录像 Recordings"
        )
    resp = Response(data, mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    resp.headers["Content-Disposition"] = f'attachment; filename="{_filename("xlsx")}"'
    resp.headers["Cache-Control"] = "no-store"
    return resp
