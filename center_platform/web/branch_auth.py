"""Verifies HMAC-signed branch requests: known branch, fresh timestamp, unused nonce, valid signature.

Every answer to a request naming a known, active branch is signed back with that branch's secret
(`storage.contract.reply_signing`), refusals included: the branch believes no unsigned reply, and a
signed "timestamp" refusal is how a branch whose clock is off learns the center's time.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import ParamSpec

from flask import Response, after_this_request, g, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from center_platform.db.models import Branch, BranchNonce
from center_platform.db.sealed_secrets import branch_secret
from center_platform.web import services
from storage.contract import reply_signing
from storage.contract import request_signing as rs

P = ParamSpec("P")


def _refuse(message: str, status: int = 401) -> Response:
    resp = jsonify(error=message)
    resp.status_code = status
    resp.headers[rs.HEADER_CENTER_TIME] = str(int(time.time()))
    return resp


def _active_branch_secret(code: str) -> str | None:
    with services().sessions() as session:
        branch = session.execute(
            select(Branch).where(Branch.code == code, Branch.active.is_(True))
        ).scalar_one_or_none()
        return branch_secret(session, branch) if branch is not None else None


def _sign_reply_for(code: str, nonce: str) -> Callable[[Response], Response]:
    def sign(resp: Response) -> Response:
        secret = g.get("branch_reply_secret") or _active_branch_secret(code)
        if secret:
            path = request.full_path.rstrip("?")
            body = resp.get_data()
            now = int(time.time())
            resp.headers.update(
                reply_signing.sign_reply(secret, request.method, path, resp.status_code, body, nonce, now)
            )
        return resp

    return sign


def require_branch(view: Callable[P, ResponseReturnValue]) -> Callable[P, ResponseReturnValue]:
    @functools.wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> ResponseReturnValue:
        svc = services()
        code = request.headers.get(rs.HEADER_BRANCH, "")
        ts_text = request.headers.get(rs.HEADER_TIMESTAMP, "")
        nonce = request.headers.get(rs.HEADER_NONCE, "")
        given = request.headers.get(rs.HEADER_SIGNATURE, "")
        if not (code and ts_text and nonce and given):
            return _refuse("missing request signature headers")
        after_this_request(_sign_reply_for(code, nonce))
        ts = rs.parse_timestamp(ts_text)
        if ts is None:
            return _refuse(f"malformed {rs.HEADER_TIMESTAMP}: the timestamp is whole seconds in ASCII digits", 400)
        if not (16 <= len(nonce) <= 64):
            return _refuse("malformed nonce")
        window = svc.config.security.request_window_s
        now = int(time.time())
        if abs(now - ts) > window:
            return _refuse(f"request timestamp is more than {window} s from the center's clock")
        with svc.sessions() as session:
            branch = session.execute(select(Branch).where(Branch.code == code)).scalar_one_or_none()
            if branch is None or not branch.active:
                return _refuse("unknown or inactive branch")
            path = request.full_path.rstrip("?")
            secret = branch_secret(session, branch)
            expected = rs.compute_signature(secret, request.method, path, ts, nonce, request.get_data())
            if not rs.signature_matches(expected, given):
                return _refuse("request signature does not match")
            seen_at = datetime.now(UTC)
            session.execute(delete(BranchNonce).where(BranchNonce.seen_at < seen_at - timedelta(seconds=2 * window)))
            session.add(BranchNonce(branch_id=branch.id, nonce=nonce, seen_at=seen_at))
            try:
                session.commit()
            except IntegrityError:
                return _refuse("request was already used (replay)")
            g.branch_id = branch.id
            g.branch_code = branch.code
            g.branch_reply_secret = secret
        resp = view(*args, **kwargs)
        return resp

    wrapper.access_branch = True  # type: ignore[attr-defined]  # read by the deny-by-default guard
    return wrapper
