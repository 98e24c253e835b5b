"""Conditional GET for what branches sync: an ETag over the canonical payload, 304 when the branch has it."""

from __future__ import annotations

from flask import Response, jsonify, request
from pydantic import BaseModel

from storage.contract.branch_sync import payload_etag


def _matches(etag: str) -> bool:
    given = [t.strip() for t in request.headers.get("If-None-Match", "").split(",") if t.strip()]
    # A weak validator (W/"...") from a proxy names the same content for a GET.
    return "*" in given or any(t.removeprefix("W/") == etag for t in given)


def versioned_json(model: BaseModel) -> Response:
    payload = model.model_dump(mode="json")
    etag = payload_etag(payload)
    if _matches(etag):
        resp = Response(status=304)
    else:
        resp = jsonify(payload)
    resp.headers["ETag"] = etag
    # Branches must ask every time; a cache in between may only answer after revalidating.
    resp.headers["Cache-Control"] = "no-cache"
    return resp
