"""Branch admin: import a recording made on another device, with the sale's data (branch_agent.spool.clip_import).

The upload is a multipart form: the sale's fields as at the counter, the counter and relationship
manager of the sale, when the other device started recording, the device, the reason, and the file.
The file is written into the spool as it is parsed (the app's small request limit is for forms, not
this; the web server's limit is raised to the import's cap at `serve`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from flask import Blueprint, g, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.formparser import FormDataParser

from branch_agent.counter.sale_validation import FieldError, normalise_sale_form, validate_sale
from branch_agent.db.models import SyncedStaff
from branch_agent.spool.clip_import import (
    ImportLimits,
    ImportRefused,
    ImportRequest,
    import_recording,
    receiving_file,
    recorded_at_error,
)
from branch_agent.spool.clip_manifest import SaleInfo
from branch_agent.web import services
from storage.contract.roles import RELATIONSHIP_MANAGER

bp = Blueprint("import_api", __name__, url_prefix="/api/admin")

LIMITS = ImportLimits()
# A text field at most; werkzeug's multipart decoder also buffers the file's bytes up to this much
# between reads, so it must stay well above its 64 KB read size.
_FORM_BYTES = 512 * 1024


def _received_files() -> tuple[list[Path], MultiDict[str, str], MultiDict[str, FileStorage]]:
    created: list[Path] = []
    spool_dir = services().config.spool_dir

    def into_spool(
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        path, fh = receiving_file(spool_dir)
        created.append(path)
        return fh

    parser = FormDataParser(
        stream_factory=into_spool,
        max_form_memory_size=_FORM_BYTES,
        max_content_length=LIMITS.max_bytes + 2 * _FORM_BYTES,
        max_form_parts=40,
        silent=False,
    )
    try:
        _, form, files = parser.parse_from_environ(request.environ)
    except Exception:
        for p in created:
            p.unlink(missing_ok=True)
        raise
    for storage in files.values():
        storage.stream.close()
    return created, form, files


def _local_time(raw: str) -> datetime | None:
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        return None
    return (value.replace(tzinfo=services().tz) if value.tzinfo is None else value).astimezone(UTC)


def _text(form: MultiDict[str, str], name: str) -> str:
    return str(form.get(name, "")).strip()


def _import_errors(form: MultiDict[str, str], files: MultiDict[str, FileStorage]) -> list[FieldError]:
    file = files.get("file")
    svc = services()
    raw = {k: str(v) for k, v in form.items()}
    errors = validate_sale(raw, {p.code for p in svc.products()})
    if _text(form, "counter_code") not in {c.code for c in svc.config.counters}:
        errors.append(FieldError("counter_code", "请选择柜台 / choose the counter of the sale"))
    with svc.sessions() as db:
        managers = set(db.execute(select(SyncedStaff.code).where(SyncedStaff.role == RELATIONSHIP_MANAGER)).scalars())
    if _text(form, "staff_code") not in managers:
        errors.append(
            FieldError(
                "staff_code", "请输入办理该笔销售的客户经理工号 / enter the sale's relationship manager's staff code"
            )
        )
    recorded_at = _local_time(_text(form, "recorded_at"))
    if recorded_at is None:
        errors.append(FieldError("recorded_at", "请输入录像开始时间 / enter when the recording started"))
    else:
        problem = recorded_at_error(recorded_at, datetime.now(UTC), LIMITS)
        if problem:
            errors.append(FieldError("recorded_at", problem))
    for name, most, missing in (
        ("device", 200, "请输入录像设备 / name the device that recorded it"),
        ("reason", 500, "请输入导入原因 / give the reason for importing it"),
    ):
        value = _text(form, name)
        if not value:
            errors.append(FieldError(name, missing))
        elif len(value) > most:
            errors.append(FieldError(name, f"最多{most}字 / at most {most} characters"))
    if file is None or not file.filename or len(files) != 1:
        errors.append(FieldError("file", "请选择一个录像文件 / choose one recording file"))
    return errors


def _file_name(file: FileStorage) -> str:
    name = re.split(r"[\\/]", file.filename or "")[-1].strip()
    return name[:255] or "recording.mp4"


@bp.post("/imports")
def create() -> ResponseReturnValue:
    svc = services()
    created, form, files = _received_files()
    try:
        file = files.get("file")
        errors = _import_errors(form, files)
        if errors:
            return jsonify(
                error="表单有误，请按提示修改，文件未保存 / the form has errors; the file was not kept",
                fields={e.field: e.message for e in errors},
            ), 422
        assert file is not None and len(created) == 1
        received = created[0]
        sale_form = normalise_sale_form({k: str(v) for k, v in form.items()})
        product = {p.code: p for p in svc.products()}[sale_form["product_code"]]
        recorded_at = _local_time(_text(form, "recorded_at"))
        assert recorded_at is not None
        req = ImportRequest(
            sale=SaleInfo(
                business_serial=sale_form["business_serial"],
                customer_name=sale_form["customer_name"],
                id_type=sale_form["id_type"],
                id_number=sale_form["id_number"],
                card_number=sale_form["card_number"],
                product_code=product.code,
                product_name=product.name,
                product_type_code=product.type_code,
            ),
            counter_code=_text(form, "counter_code"),
            staff_code=_text(form, "staff_code"),
            recorded_at=recorded_at,
            device=_text(form, "device"),
            reason=_text(form, "reason"),
            original_file_name=_file_name(file),
            imported_by=str(g.staff_code),
        )
        try:
            manifest = import_recording(
                svc.sessions, svc.key, svc.config.branch.code, svc.config.spool_dir, svc.tz, req, received, LIMITS
            )
        except ImportRefused as refused:
            return jsonify(error=str(refused), fields={"file": str(refused)}), 422
        return jsonify(
            clip_id=manifest.clip_id,
            origin=manifest.origin,
            duration_ms=manifest.duration_ms,
            sha256=manifest.media.sha256,
            business_serial=manifest.business_serial,
        ), 201
    finally:
        for p in created:  # whatever was not taken into the spool as a clip
            p.unlink(missing_ok=True)
