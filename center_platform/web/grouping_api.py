"""Clips grouped by product type, branch and day (center_platform.archive.grouping): the counts as JSON,
and a product type's clips of a period exported as one zip of evidence packages. Both audited."""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import date

from flask import Blueprint, g, jsonify, request, send_file
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from center_platform.archive.evidence_export import EvidencePackage, ExportFailed
from center_platform.archive.grouping import (
    GroupDay,
    GroupingError,
    GroupPeriod,
    build_group_package,
    group_clips,
    grouped,
)
from center_platform.audit import trail as audit
from center_platform.db.models import Branch, Recording
from center_platform.web import hardening, services
from center_platform.web.roles import own_branch_only
from center_platform.web.user_auth import CurrentUser

log = logging.getLogger(__name__)

bp = Blueprint("grouping_api", __name__, url_prefix="/api/recordings/groups")


@bp.errorhandler(GroupingError)
def _refused(exc: GroupingError) -> ResponseReturnValue:
    return jsonify(error=str(exc)), exc.status


def _day(args: dict[str, str], name: str, default: date) -> date:
    raw = args.get(name, "").strip()
    if not raw:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise GroupingError(f"日期格式应为 YYYY-MM-DD / {name} must be a date YYYY-MM-DD") from exc


def period_of(args: dict[str, str], user: CurrentUser) -> GroupPeriod:
    tz = services().display_tz
    today = date.today()
    day_to = _day(args, "day_to", today)
    day_from = _day(args, "day_from", day_to.replace(day=1))
    branch_id = user.branch_id if own_branch_only(user.role) else None
    code = args.get("branch_code", "").strip()
    if code and branch_id is None:
        with services().sessions() as db:
            branch_id = db.execute(select(Branch.id).where(Branch.code == code)).scalar_one_or_none()
        if branch_id is None:
            raise GroupingError(f"未知网点 / unknown branch {code}")
    return GroupPeriod(day_from, day_to, tz, branch_id)


def listed(user: CurrentUser, args: dict[str, str]) -> tuple[GroupPeriod, list[GroupDay]]:
    period = period_of(args, user)
    product_type = args.get("product_type", "").strip() or None
    with services().sessions() as db:
        rows = grouped(db, period, product_type)
        audit.append(
            db,
            user.username,
            "recordings.grouped",
            product_type or "all",
            {
                "day_from": period.day_from.isoformat(),
                "day_to": period.day_to.isoformat(),
                "branch_id": period.branch_id,
            },
        )
        db.commit()
    return period, rows


@bp.get("")
def groups() -> ResponseReturnValue:
    period, rows = listed(g.user, dict(request.args))
    return jsonify(
        day_from=period.day_from.isoformat(),
        day_to=period.day_to.isoformat(),
        groups=[{**asdict(r), "day": r.day.isoformat()} for r in rows],
    )


@bp.post("/export")
@hardening.bounded(  # reads every clip of the set from the archive: [security] max_concurrent_exports
    hardening.EXPORT_SLOTS,
    "导出任务已满，请稍后再试 / too many evidence exports at once: try again in a minute",
    retry_after_s=60,
)
def export() -> ResponseReturnValue:
    return export_response(g.user, dict(request.args))


def export_response(user: CurrentUser, args: dict[str, str]) -> ResponseReturnValue:
    """The zip of a product type's clips of the period, as a download; GroupingError when there is none."""
    product_type = str(args.get("product_type", "")).strip()
    if not product_type:
        raise GroupingError("请选择产品类型 / choose the product type")
    period = period_of(args, user)
    svc = services()
    with svc.sessions() as db:
        recs = group_clips(db, period, product_type)

        def audited(rec: Recording, package: EvidencePackage) -> None:
            audit.append(
                db,
                user.username,
                "recording.exported",
                rec.clip_id,
                {"package_sha256": package.sha256, "package_size": package.size, "with_product_type": product_type},
            )

        try:
            package = build_group_package(
                db,
                svc.store,
                recs,
                period,
                product_type,
                user.username,
                svc.config.server.data_dir / "exports",
                audited,
            )
        except ExportFailed as exc:
            log.error("ALERT export of product type %s failed: %s", product_type, exc)
            db.rollback()
            audit.append(db, user.username, "recordings.group_export_failed", product_type, {"reason": str(exc)})
            db.commit()
            return jsonify(error=str(exc)), 502
        try:
            audit.append(
                db,
                user.username,
                "recordings.group_exported",
                product_type,
                {
                    "day_from": period.day_from.isoformat(),
                    "day_to": period.day_to.isoformat(),
                    "branch_id": period.branch_id,
                    "clips": [c for c, _ in package.members],
                    "package_sha256": package.sha256,
                },
            )
            db.commit()
            fh = open(package.path, "rb")  # noqa: SIM115 - closed by the streaming response
        finally:
            package.path.unlink(missing_ok=True)
    resp = send_file(fh, mimetype="application/zip", as_attachment=True, download_name=package.download_name, max_age=0)
    resp.headers["Content-Length"] = str(package.size)
    resp.headers["X-Package-SHA256"] = package.sha256
    resp.headers["Cache-Control"] = "no-store"
    return resp
