"""Central configuration pages: every branch with the version set here and what the branch made of it
(in effect, waiting for a take to end, or refused and why); per branch, the upload window, bandwidth
cap and recording limits (at once) and each counter's sources (through four eyes)."""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from center_platform.admin import branch_config
from center_platform.admin import pending_changes as pc
from center_platform.admin.catalogue import CatalogueError
from center_platform.web.branch_config_api import CamerasEdit, SettingsEdit
from center_platform.web.catalogue_api import approval_policy, in_transaction, parse
from center_platform.web.user_auth import csrf_token
from storage.contract.central_config import SOURCE_ROLES

bp = Blueprint("branch_config_ui", __name__, url_prefix="/branch-config")

SETTINGS = (
    ("upload", "window_start", "上传开始 Upload from (HH:MM)"),
    ("upload", "window_end", "上传结束 Upload until (HH:MM)"),
    ("upload", "bandwidth_mbit", "带宽上限 Mbit/s (0: 不限 no cap)"),
    ("limits", "min_free_gb", "最小剩余空间 GB Min free GB"),
    ("limits", "min_days_left", "最少可录天数 Min days left"),
)
ROLE_LABELS = {
    "environment": "环境摄像机 Environment camera",
    "desk": "桌面摄像机 Desk camera",
    "microphone": "麦克风 Microphone",
}
_DECIMAL = re.compile(r"[0-9]{1,9}(\.[0-9]{1,6})?")


@bp.get("")
def page() -> ResponseReturnValue:
    rows = in_transaction(branch_config.statuses)
    return render_template("branch_config.html", rows=rows, detail=None, user=g.user, csrf=csrf_token())


def _detail(code: str, status: int = 200, error: str = "", form: dict[str, Any] | None = None) -> ResponseReturnValue:
    row = in_transaction(lambda db: branch_config.statuses(db, code))[0]
    pending = [c for c in in_transaction(pc.list_pending) if c["kind"] == pc.BRANCH_CAMERAS and c["target"] == code]
    sources = {
        c.code: {r: json.dumps(s, ensure_ascii=False) for r, s in c.sources().items()} for c in row.config.counters
    }
    return render_template(
        "branch_config.html",
        detail=row,
        settings=SETTINGS,
        roles=ROLE_LABELS,
        sources=sources,
        pending=pending,
        error=error,
        form=form or {},
        user=g.user,
        csrf=csrf_token(),
    ), status


@bp.get("/<code>")
def detail(code: str) -> ResponseReturnValue:
    try:
        return _detail(code)
    except CatalogueError as exc:
        return render_template(
            "branch_config.html", rows=[], detail=None, error=str(exc), user=g.user, csrf=csrf_token()
        ), exc.status


def _settings_form() -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {"upload": {}, "limits": {}}
    for section, name, _label in SETTINGS:
        value = request.form.get(name, "").strip()
        if not value:
            continue
        if name not in ("window_start", "window_end") and not _DECIMAL.fullmatch(value):
            raise CatalogueError("须为十进制数 / must be a decimal number", 400, name)
        out[section][name] = value
    return out


@bp.post("/<code>/settings")
def save_settings(code: str) -> ResponseReturnValue:
    try:
        data = parse(SettingsEdit, _settings_form())
        new = in_transaction(lambda db: branch_config.set_settings(db, g.user.username, code, data.upload, data.limits))
    except CatalogueError as exc:
        return _detail(code, exc.status, str(exc), dict(request.form))
    flash(
        f"已保存,版本 {new.version},网点下次同步时生效 / saved as version {new.version}: the branch takes it at its next sync"
    )
    return redirect(url_for("branch_config_ui.detail", code=code))


def _cameras_form() -> dict[str, Any]:
    counters: list[dict[str, Any]] = []
    for counter in request.form.getlist("counter"):
        entry: dict[str, Any] = {"code": counter}
        for role in SOURCE_ROLES:
            text = request.form.get(f"{counter}.{role}", "").strip()
            if not text:
                continue
            try:
                section = json.loads(text)
            except ValueError as exc:
                raise CatalogueError(f"不是 JSON 对象 / not a JSON object: {exc}", 400, f"{counter}.{role}") from exc
            if not isinstance(section, dict):
                raise CatalogueError("须为 JSON 对象 / must be a JSON object", 400, f"{counter}.{role}")
            entry[role] = section
        if len(entry) > 1:
            counters.append(entry)
    return {"counters": counters}


@bp.post("/<code>/cameras")
def save_cameras(code: str) -> ResponseReturnValue:
    policy = approval_policy()
    try:
        data = parse(CamerasEdit, _cameras_form())
        pending = in_transaction(
            lambda db: branch_config.propose_cameras(db, g.user.username, code, data.counters, policy)
        )
    except CatalogueError as exc:
        return _detail(code, exc.status, str(exc), dict(request.form))
    if pending is None:
        flash("摄像机配置没有变化 / the cameras are unchanged")
    else:
        flash(
            f"摄像机配置变更已提交复核(#{pending['id']}),须另一名系统管理员复核后生效 / "
            f"submitted for approval (#{pending['id']}): it applies once another system admin approves it"
        )
    return redirect(url_for("branch_config_ui.detail", code=code))
