"""The reconciliation page: import the sales ledger, run a day, work the gaps (应录未录 and the rest)."""

from __future__ import annotations

from flask import Blueprint, flash, g, get_flashed_messages, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from center_platform.db.models import Branch
from center_platform.reconciliation.gaps import (
    GAP_KINDS,
    KIND_LABELS,
    STATUS_LABELS,
    STATUSES,
    GapError,
    GapRow,
    list_gaps,
    work_gap,
)
from center_platform.reconciliation.ledger_import import COLUMNS, ImportOutcome, LedgerFormatError, import_ledger
from center_platform.reconciliation.runner import ReconciliationBusy
from center_platform.web import services
from center_platform.web.ledger_api import MAX_BODY
from center_platform.web.reconciliation_api import BadInput, branch_id_of, day_arg, gap_filters, run_request
from center_platform.web.user_auth import csrf_token

bp = Blueprint("reconciliation_ui", __name__)
PAGE = 50


def _render(outcome: ImportOutcome | None = None, error: str = "", status: int = 200) -> ResponseReturnValue:
    args = dict(request.args)
    rows: list[GapRow] = []
    total, offset = 0, 0
    try:
        f = gap_filters(args, branch_id_of(args.get("branch_code")))
        offset = int(args["offset"]) if args.get("offset", "").isdigit() else 0
        with services().sessions() as db:
            rows, total = list_gaps(db, f, offset, PAGE)
    except BadInput as exc:
        error, status = str(exc), 400
    with services().sessions() as db:
        branches = list(db.execute(select(Branch.code, Branch.name).order_by(Branch.code)).tuples())
    return render_template(
        "reconciliation.html",
        rows=rows,
        total=total,
        offset=offset,
        page=PAGE,
        args=args,
        branches=branches,
        kinds=GAP_KINDS,
        kind_labels=KIND_LABELS,
        statuses=STATUSES,
        status_labels=STATUS_LABELS,
        columns=COLUMNS,
        outcome=outcome,
        error=error,
        messages=get_flashed_messages(),
        user=g.user,
        csrf=csrf_token(),
    ), status


@bp.get("/reconciliation")
def page() -> ResponseReturnValue:
    return _render()


@bp.post("/reconciliation/import")
def import_file() -> ResponseReturnValue:
    request.max_content_length = MAX_BODY
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _render(error="请选择文件 / choose a file", status=400)
    with services().sessions() as db:
        try:
            outcome = import_ledger(db, upload.read(), upload.filename, g.user.username, "ui")
        except LedgerFormatError as exc:
            return _render(error=str(exc), status=400)
    return _render(outcome=outcome)


@bp.post("/reconciliation/run")
def run() -> ResponseReturnValue:
    form = {k: v for k, v in request.form.items() if k != "csrf_token"}
    try:
        runs = run_request(day_arg(form, "day"), day_arg(form, "last_day"))
    except (BadInput, ReconciliationBusy) as exc:
        return _render(error=str(exc), status=400 if isinstance(exc, BadInput) else 409)
    for r in runs:
        flash(
            f"{r['day']} 对账完成 reconciled: 销售 sales {r['sales']}, 已录 recorded {r['recorded']}, "
            f"应录未录 missed {r['missed']}, 未上传 not uploaded {r['not_uploaded']}, 无销售录像 unsold {r['unsold']}"
        )
    day = form.get("day", "")
    return redirect(url_for("reconciliation_ui.page", day_from=day, day_to=form.get("last_day") or day))


@bp.post("/reconciliation/gaps/<int:gap_id>")
def work(gap_id: int) -> ResponseReturnValue:
    with services().sessions() as db:
        try:
            work_gap(db, gap_id, request.form.get("status", ""), request.form.get("note", ""), g.user.username)
        except GapError as exc:
            return _render(error=str(exc), status=400)
        except LookupError:
            return _render(error="no such gap / 无此差异", status=404)
    flash(f"差异 #{gap_id} 已更新 / gap #{gap_id} updated")
    back = request.form.get("back", "")
    return redirect(back if back.startswith("/") and not back.startswith("//") else url_for("reconciliation_ui.page"))
