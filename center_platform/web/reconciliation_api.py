"""Reconciliation JSON for compliance officers: import a ledger file, run a day, list and work the gaps."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, timedelta

from flask import Blueprint, g, jsonify, request
from flask.typing import ResponseReturnValue

from center_platform.reconciliation.gaps import GAP_KINDS, STATUSES, GapError, GapFilters, gap_json, list_gaps, work_gap
from center_platform.reconciliation.ledger_import import LedgerFormatError, import_ledger
from center_platform.reconciliation.runner import MAX_DAYS, ReconciliationBusy, RunRequest, run_days, settings_of
from center_platform.web import services
from center_platform.web.ledger_api import MAX_BODY

bp = Blueprint("reconciliation_api", __name__, url_prefix="/api/reconciliation")


class BadInput(ValueError):
    pass


@bp.errorhandler(BadInput)
def _bad(exc: BadInput) -> ResponseReturnValue:
    return jsonify(error=str(exc)), 400


def day_arg(args: dict[str, str], name: str) -> date | None:
    raw = (args.get(name) or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise BadInput(f"{name}: {raw!r} 不是日期 / is not a date (YYYY-MM-DD)") from exc


def days_between(first: date, last: date) -> tuple[date, ...]:
    if last < first:
        raise BadInput("结束日期早于开始日期 / the last day is before the first")
    n = (last - first).days + 1
    if n > MAX_DAYS:
        raise BadInput(f"一次最多 {MAX_DAYS} 天 / at most {MAX_DAYS} days at a time")
    return tuple(first + timedelta(days=i) for i in range(n))


def gap_filters(args: dict[str, str], branch_id: int | None) -> GapFilters:
    kind = args.get("kind") or None
    status = args.get("status") or None
    if kind is not None and kind not in GAP_KINDS:
        raise BadInput("unknown gap kind / 未知差异类型")
    if status is not None and status not in STATUSES:
        raise BadInput("unknown status / 未知状态")
    return GapFilters(
        day_from=day_arg(args, "day_from"),
        day_to=day_arg(args, "day_to"),
        branch_id=branch_id,
        staff_code=args.get("staff_code") or None,
        kind=kind,
        status=status,
        current_only=args.get("all") not in ("1", "true"),
    )


def branch_id_of(code: str | None) -> int | None:
    from sqlalchemy import select

    from center_platform.db.models import Branch

    if not code:
        return None
    with services().sessions() as db:
        found = db.execute(select(Branch.id).where(Branch.code == code)).scalar_one_or_none()
    if found is None:
        raise BadInput(f"未知网点 / unknown branch {code}")
    return int(found)


def run_request(first: date | None, last: date | None) -> list[dict[str, object]]:
    if first is None:
        raise BadInput("day 必填 / day is required")
    svc = services()
    req = RunRequest(days_between(first, last or first), g.user.username)
    summaries = run_days(svc.sessions, req, settings_of(svc.config.reconciliation))
    return [
        {"day": s.day.isoformat(), "run_id": s.run_id, "seconds": round(s.seconds, 3), **asdict(s.counts)}
        for s in summaries
    ]


@bp.post("/imports")
def import_file() -> ResponseReturnValue:
    request.max_content_length = MAX_BODY
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise BadInput("请选择文件 / choose a file")
    with services().sessions() as db:
        try:
            outcome = import_ledger(db, upload.read(), upload.filename, g.user.username, "ui")
        except LedgerFormatError as exc:
            raise BadInput(str(exc)) from exc
    return jsonify(outcome.as_json())


@bp.post("/runs")
def run() -> ResponseReturnValue:
    body = request.get_json(silent=True) or {}
    args = {k: str(v) for k, v in body.items()} if isinstance(body, dict) else {}
    try:
        days = run_request(day_arg(args, "day"), day_arg(args, "last_day"))
    except ReconciliationBusy as exc:
        return jsonify(error=str(exc)), 409
    return jsonify(runs=days)


@bp.get("/gaps")
def gaps() -> ResponseReturnValue:
    args = dict(request.args)
    f = gap_filters(args, branch_id_of(args.get("branch_code")))
    offset = int(args["offset"]) if args.get("offset", "").isdigit() else 0
    with services().sessions() as db:
        rows, total = list_gaps(db, f, offset, 200)
    return jsonify(total=total, gaps=[gap_json(r) for r in rows])


@bp.post("/gaps/<int:gap_id>")
def work(gap_id: int) -> ResponseReturnValue:
    body = request.get_json(silent=True) or {}
    if not isinstance(body, dict):
        raise BadInput("request body must be a JSON object")
    with services().sessions() as db:
        try:
            row = work_gap(db, gap_id, str(body.get("status", "")), str(body.get("note", "")), g.user.username)
        except GapError as exc:
            raise BadInput(str(exc)) from exc
        except LookupError:
            return jsonify(error="no such gap"), 404
    return jsonify(gap_json(row))
