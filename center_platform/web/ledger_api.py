"""`POST /api/ledger/v1/imports`: the core banking system sends its daily sales ledger, HMAC-signed.

Signed exactly as branch requests are (storage.contract.request_signing: method, path, timestamp,
nonce, body SHA-256), with the key in CENTER_LEDGER_API_SECRET and `X-DR-Branch: core` as the sender.
The body is the CSV or XLSX file itself; `?file_name=` names it in the import record. Without the
environment key the route refuses every request.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import ParamSpec

from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from center_platform.config import ENV_LEDGER_API_SECRET
from center_platform.db.reconciliation_models import LedgerApiNonce
from center_platform.reconciliation.ledger_import import LedgerFormatError, import_ledger
from center_platform.web import services
from storage.contract import request_signing as rs

P = ParamSpec("P")
SENDER = "core"
MAX_BODY = 64 * 1024 * 1024  # a big bank's day is a few MB of CSV; the app's default limit is for forms

bp = Blueprint("ledger_api", __name__, url_prefix="/api/ledger/v1")


def _refuse(message: str) -> Response:
    resp = jsonify(error=message)
    resp.status_code = 401
    resp.headers[rs.HEADER_CENTER_TIME] = str(int(time.time()))
    return resp


def require_core_system(view: Callable[P, ResponseReturnValue]) -> Callable[P, ResponseReturnValue]:
    @functools.wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> ResponseReturnValue:
        secret = os.environ.get(ENV_LEDGER_API_SECRET, "")
        if not secret:
            return _refuse(f"ledger API disabled: {ENV_LEDGER_API_SECRET} is not set at the center")
        sender = request.headers.get(rs.HEADER_BRANCH, "")
        ts_text = request.headers.get(rs.HEADER_TIMESTAMP, "")
        nonce = request.headers.get(rs.HEADER_NONCE, "")
        given = request.headers.get(rs.HEADER_SIGNATURE, "")
        if sender != SENDER or not ts_text.isdigit() or not (16 <= len(nonce) <= 64) or not given:
            return _refuse("missing or malformed request signature headers")
        svc = services()
        window = svc.config.security.request_window_s
        if abs(int(time.time()) - int(ts_text)) > window:
            return _refuse(f"request timestamp is more than {window} s from the center's clock")
        request.max_content_length = MAX_BODY
        expected = rs.compute_signature(
            secret, request.method, request.full_path.rstrip("?"), int(ts_text), nonce, request.get_data()
        )
        if not rs.signature_matches(expected, given):
            return _refuse("request signature does not match")
        seen_at = datetime.now(UTC)
        with svc.sessions() as db:
            db.execute(delete(LedgerApiNonce).where(LedgerApiNonce.seen_at < seen_at - timedelta(seconds=2 * window)))
            db.add(LedgerApiNonce(nonce=nonce, seen_at=seen_at))
            try:
                db.commit()
            except IntegrityError:
                return _refuse("request was already used (replay)")
        return view(*args, **kwargs)

    # Read by the deny-by-default guard: this blueprint's views check a signature instead of a session.
    wrapper.access_branch = True  # type: ignore[attr-defined]
    return wrapper


@bp.post("/imports")
@require_core_system
def import_file() -> ResponseReturnValue:
    name = request.args.get("file_name", "") or "ledger.csv"
    with services().sessions() as db:
        try:
            outcome = import_ledger(db, request.get_data(), name, f"api:{SENDER}", "api")
        except LedgerFormatError as exc:
            return jsonify(error=str(exc)), 400
    return jsonify(outcome.as_json())
