"""Report pages and exports: staff assessment, coverage and timeliness trends (SVG charts with drill-down
to the clips and the gaps), and the recording ledger as CSV, XLSX and PDF. A branch admin sees the own
branch only; the filters come from the query, the branch restriction from the role."""

from __future__ import annotations

from datetime import date, timedelta
from urllib.parse import urlencode

from flask import Blueprint, Response, abort, g, render_template, request, stream_with_context, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from center_platform.audit import trail as audit
from center_platform.db.models import Branch, ProductType
from center_platform.reports.figures import ReportFilters, assessment, by_branch, trend
from center_platform.reports.ledger import ledger_csv, ledger_lines, ledger_xlsx
from center_platform.reports.pdf import ledger_pdf
from center_platform.reports.supplementary import supplementary_counts
from center_platform.reports.svg_charts import Bar, bar_chart
from center_platform.web import services
from center_platform.web.roles import own_branch_only
from center_platform.web.user_auth import csrf_token
from storage.database import utcnow

bp = Blueprint("reports_ui", __name__)
MAX_DAYS = 366


@bp.app_template_filter("percent")
def percent(share: float | None) -> str:
    """A share as a percentage with one decimal, or a dash where there is nothing to divide by."""
    return "—" if share is None else f"{share * 100:.1f}%"


def report_filters() -> tuple[ReportFilters, dict[str, str]]:
    args = {k: v for k, v in request.args.items() if v.strip()}
    today = utcnow().astimezone(services().display_tz).date()
    try:
        day_to = date.fromisoformat(args.get("day_to", "")) if "day_to" in args else today
        day_from = date.fromisoformat(args["day_from"]) if "day_from" in args else day_to - timedelta(days=29)
    except ValueError:
        abort(400, description="dates are YYYY-MM-DD / 日期格式为 YYYY-MM-DD")
    if day_to < day_from or (day_to - day_from).days >= MAX_DAYS:
        abort(400, description=f"a period of 1 to {MAX_DAYS} days / 期间为 1 至 {MAX_DAYS} 天")
    branch_id = type_id = None
    with services().sessions() as db:
        if own_branch_only(g.user.role):
            branch_id = g.user.branch_id
            args["branch_code"] = db.execute(select(Branch.code).where(Branch.id == branch_id)).scalar_one()
        elif "branch_code" in args:
            branch_id = db.execute(select(Branch.id).where(Branch.code == args["branch_code"])).scalar_one_or_none()
            if branch_id is None:
                abort(400, description="unknown branch / 未知网点")
        if "product_type" in args:
            type_id = db.execute(
                select(ProductType.id).where(ProductType.code == args["product_type"])
            ).scalar_one_or_none()
            if type_id is None:
                abort(400, description="unknown product type / 未知产品类型")
    args["day_from"], args["day_to"] = day_from.isoformat(), day_to.isoformat()
    return ReportFilters(day_from, day_to, branch_id, type_id), args


class _Links:
    """The drill-down links of one page: each endpoint's URL is built once and its query appended per
    row, since a bank-wide staff table has thousands of rows and url_for per cell costs more than the
    table's figures."""

    def __init__(self, args: dict[str, str]) -> None:
        self.args = args
        self.search_base = url_for("ui.recordings")
        self.reconciliation_base = url_for("reconciliation_ui.page")

    def search(self, day_from: str, day_to: str, **extra: str) -> str:
        """The search page over the same clips: the drill-down from a bar or a cell."""
        end = (date.fromisoformat(day_to) + timedelta(days=1)).isoformat()
        query = {"from": f"{day_from}T00:00", "to": f"{end}T00:00"}
        for key in ("branch_code", "product_type"):
            if key in self.args:
                query[key] = self.args[key]
        query.update(extra)
        return f"{self.search_base}?{urlencode(query, safe=':')}"

    def missed(self, branch_code: str, staff_code: str | None = None) -> str:
        """The reconciliation's sales without a recording, for a branch or one of its managers."""
        query = {"branch_code": branch_code}
        if staff_code is not None:
            query["staff_code"] = staff_code
        query.update(kind="missed", day_from=self.args["day_from"], day_to=self.args["day_to"])
        return f"{self.reconciliation_base}?{urlencode(query, safe=':')}"


@bp.get("/reports")
def assessment_page() -> ResponseReturnValue:
    f, args = report_filters()
    links = _Links(args)
    with services().sessions() as db:
        staff = assessment(db, f)
        branches = by_branch(staff)
        days = trend(db, f)
        supplementary = supplementary_counts(db, f)
        branch_list = list(db.execute(select(Branch.code, Branch.name).order_by(Branch.code)).tuples())
        types = list(db.execute(select(ProductType.code, ProductType.name).order_by(ProductType.code)).tuples())
    coverage = bar_chart(
        "coverage-chart",
        "录像覆盖率 Recording coverage (recorded / sold)",
        "日期 Day",
        "覆盖率 Coverage",
        [
            Bar(
                d.key,
                d.coverage or 0.0,
                f"{d.key}: {d.recorded}/{d.sales} = {(d.coverage or 0):.1%}, 应录未录 missed {d.missed}",
                links.search(d.key, d.key),
            )
            for d in days
        ],
        percent=True,
    )
    missed = bar_chart(
        "missed-chart",
        "应录未录 Sold, not recorded — by branch",
        "网点 Branch",
        "笔数 Sales",
        [
            Bar(
                b.key,
                float(b.missed),
                f"{b.key}: {b.missed}",
                links.missed(b.key),
            )
            for b in branches
        ],
    )
    return render_template(
        "reports.html",
        staff=staff,
        branches=branches,
        days=days,
        supplementary=supplementary,
        coverage_chart=coverage,
        missed_chart=missed,
        args=args,
        branch_list=branch_list,
        types=types,
        links=links,
        user=g.user,
        csrf=csrf_token(),
    )


@bp.get("/reports/ledger.<fmt>")
def ledger_export(fmt: str) -> ResponseReturnValue:
    if fmt not in ("csv", "xlsx", "pdf"):
        abort(404)
    f, args = report_filters()
    tz = services().display_tz
    with services().sessions() as db:
        lines = ledger_lines(db, f, tz)
        audit.append(db, g.user.username, "report.exported", f"ledger.{fmt}", {**args, "lines": len(lines)})
        db.commit()
    name = f"recording-ledger-{args['day_from']}-{args['day_to']}.{fmt}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if fmt == "csv":
        return Response(stream_with_context(ledger_csv(lines, tz)), mimetype="text/csv; charset=utf-8", headers=headers)
    if fmt == "xlsx":
        mime = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        return Response(ledger_xlsx(lines, tz), mimetype=mime, headers=headers)
    scope = args.get("branch_code", "全行 all branches")
    subtitle = f"{args['day_from']} — {args['day_to']} · {scope} · {len(lines)} 条 recordings"
    return Response(
        ledger_pdf("理财录像流水 Recording ledger", subtitle, lines, tz), mimetype="application/pdf", headers=headers
    )
