"""Export of one recording as an evidence package (compliance officers, see `roles`); every export is audited."""

from __future__ import annotations

import logging

from flask import Blueprint, abort, g, jsonify, send_file
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from center_platform.archive.evidence_export import ExportFailed, build_package
from center_platform.audit import trail as audit
from center_platform.db.models import Recording
from center_platform.web import hardening, services
from center_platform.web.user_auth import CurrentUser
from storage.manifest import is_clip_id

log = logging.getLogger(__name__)

bp = Blueprint("export_api", __name__, url_prefix="/api/recordings")


@bp.post("/<clip_id>/export")
@hardening.bounded(  # each export reads a whole clip from the archive and zips it: [security] max_concurrent_exports
    hardening.EXPORT_SLOTS,
    "导出任务已满，请稍后再试 / too many evidence exports at once: try again in a minute",
    retry_after_s=60,
)
def export(clip_id: str) -> ResponseReturnValue:
    user: CurrentUser = g.user
    if not is_clip_id(clip_id):
        abort(404)
    svc = services()
    with svc.sessions() as db:
        rec = db.execute(select(Recording).where(Recording.clip_id == clip_id)).scalar_one_or_none()
        if rec is None:
            abort(404)
        if rec.state == "deleted":
            return jsonify(error=f"clip {clip_id} was deleted at the end of its retention; nothing to export"), 410
        try:
            package = build_package(db, svc.store, rec, user.username, svc.config.server.data_dir / "exports")
        except ExportFailed as exc:
            log.error("ALERT export of clip %s failed: %s", clip_id, exc)
            db.rollback()
            audit.append(db, user.username, "recording.export_failed", clip_id, {"reason": str(exc)})
            db.commit()
            return jsonify(error=str(exc)), 502
        try:
            audit.append(
                db,
                user.username,
                "recording.exported",
                clip_id,
                {
                    "package_sha256": package.sha256,
                    "package_size": package.size,
                    "exported_at": package.exported_at.isoformat(),
                    "audit_rows": package.audit_rows,
                },
            )
            db.commit()
            fh = open(package.path, "rb")  # noqa: SIM115 - closed by the streaming response
        finally:
            # The open handle keeps the data readable while it streams; the name goes now.
            package.path.unlink(missing_ok=True)
    resp = send_file(
        fh,
        mimetype="application/zip",
        as_attachment=True,
        download_name=package.download_name,
        max_age=0,
        conditional=False,
    )
    resp.headers["Content-Length"] = str(package.size)
    resp.headers["X-Package-SHA256"] = package.sha256
    resp.headers["Cache-Control"] = "no-store"
    return resp
