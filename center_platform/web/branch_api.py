"""The API branches call: catalogue, staff and branch sync (ETag / If-None-Match) and the upload protocol.

Every route is HMAC-authenticated.
"""

from __future__ import annotations

import time

from flask import Blueprint, Response, g, jsonify, request
from flask.typing import ResponseReturnValue
from pydantic import BaseModel, ValidationError
from sqlalchemy import select

from center_platform.admin.catalogue import product_markers
from center_platform.db.models import Branch, Counter, Product, Staff
from center_platform.ingest.service import IngestRejected
from center_platform.web import hardening, services
from center_platform.web.branch_auth import require_branch
from center_platform.web.versioned import versioned_json
from storage.config_file import describe_validation_error
from storage.contract import routes
from storage.contract.branch_sync import (
    BranchConfigView,
    CatalogPayload,
    CatalogProduct,
    CounterView,
    StaffMember,
    StaffPayload,
)
from storage.contract.request_signing import HEADER_CENTER_TIME
from storage.contract.uploads import PresignRequest, RegisterUpload
from storage.manifest import ManifestError, is_clip_id
from storage.object_store import StorageError

bp = Blueprint("branch_api", __name__, url_prefix=routes.PREFIX)


@bp.after_request
def _center_time(resp: Response) -> Response:
    resp.headers[HEADER_CENTER_TIME] = str(int(time.time()))
    return resp


@bp.errorhandler(IngestRejected)
def _rejected(exc: IngestRejected) -> ResponseReturnValue:
    return jsonify(error=str(exc)), exc.status


@bp.errorhandler(StorageError)
def _storage_down(exc: StorageError) -> ResponseReturnValue:
    return jsonify(error=f"archive storage unavailable: {exc}"), 503


def _json_object() -> dict[str, object]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise IngestRejected("request body must be a JSON object", 400)
    return data


def _body(model: type[BaseModel]) -> BaseModel:
    data = _json_object()
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise IngestRejected(describe_validation_error("request", exc), 400) from exc


def _clip(clip_id: str) -> str:
    if not is_clip_id(clip_id):
        raise IngestRejected(f"{clip_id!r} is not a clip id", 400)
    return clip_id


@bp.get(routes.TIME_RULE)
def center_time() -> ResponseReturnValue:
    return jsonify(epoch_s=time.time())


@bp.get(routes.CATALOG_RULE)
@require_branch
def catalog() -> ResponseReturnValue:
    with services().sessions() as session:
        products = session.execute(select(Product).where(Product.active.is_(True)).order_by(Product.code)).scalars()
        payload = CatalogPayload(
            products=[
                CatalogProduct(
                    code=p.code,
                    name=p.name,
                    type_code=p.product_type.code,
                    type_name=p.product_type.name,
                    term_days=p.term_days,
                    risk_level=p.risk_level,
                    disclosure_script=p.disclosure_script,
                    required_markers=product_markers(p),
                    min_duration_s=p.min_duration_s,
                )
                for p in products
            ]
        )
    return versioned_json(payload)


@bp.get(routes.STAFF_RULE)
@require_branch
def staff() -> ResponseReturnValue:
    """The branch's staff with password hashes, so counter logins work while the WAN is down."""
    with services().sessions() as session:
        rows = session.execute(
            select(Staff).where(Staff.branch_id == g.branch_id, Staff.active.is_(True)).order_by(Staff.code)
        ).scalars()
        payload = StaffPayload(
            staff=[StaffMember(code=s.code, name=s.name, role=s.role, password_hash=s.password_hash) for s in rows]
        )
    return versioned_json(payload)


@bp.get(routes.BRANCH_RULE)
@require_branch
def branch_config() -> ResponseReturnValue:
    """The branch as enrolled here: the agent shows it and reports differences from its own file."""
    with services().sessions() as session:
        branch = session.execute(select(Branch).where(Branch.id == g.branch_id)).scalar_one()
        counters = session.execute(
            select(Counter).where(Counter.branch_id == g.branch_id).order_by(Counter.code)
        ).scalars()
        view = BranchConfigView(
            code=branch.code,
            name=branch.name,
            timezone=branch.timezone,
            counters=[CounterView(code=c.code, name=c.name) for c in counters],
        )
    return versioned_json(view)


@bp.post(routes.UPLOADS_RULE)
@require_branch
def register() -> ResponseReturnValue:
    try:
        body = RegisterUpload.from_wire(_json_object())
    except ValidationError as exc:
        raise IngestRejected(describe_validation_error("request", exc), 400) from exc
    except ManifestError as exc:
        raise IngestRejected(str(exc)) from exc
    plan = services().ingest.register(g.branch_id, body.manifest)
    return jsonify(plan.model_dump())


@bp.get(routes.UPLOAD_RULE)
@require_branch
def status(clip_id: str) -> ResponseReturnValue:
    return jsonify(services().ingest.status(g.branch_id, _clip(clip_id)).model_dump())


@bp.post(routes.UPLOAD_PARTS_RULE)
@require_branch
def presign(clip_id: str) -> ResponseReturnValue:
    body = _body(PresignRequest)
    assert isinstance(body, PresignRequest)
    return jsonify(services().ingest.presign(g.branch_id, _clip(clip_id), body.parts).model_dump())


@bp.post(routes.UPLOAD_COMPLETE_RULE)
@require_branch
@hardening.bounded(  # the archive re-reads and re-hashes the clip: [security] max_concurrent_completions
    hardening.COMPLETION_SLOTS,
    "中心正忙于核验其他录像，请稍后再试 / the archive is verifying other clips: try again later",
    retry_after_s=120,
)
def complete(clip_id: str) -> ResponseReturnValue:
    outcome = services().ingest.complete(g.branch_id, _clip(clip_id))
    return jsonify(outcome.model_dump()), (200 if outcome.state == "verified" else 422)
