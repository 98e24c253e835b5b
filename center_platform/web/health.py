"""Health for operations: database and archive storage, each with its own state."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from center_platform.web import services

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def health() -> ResponseReturnValue:
    svc = services()
    components: dict[str, dict[str, str]] = {}
    try:
        with svc.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        components["database"] = {"status": "up"}
    except SQLAlchemyError as exc:
        components["database"] = {"status": "down", "detail": str(exc).splitlines()[0]}
    ok, reason = svc.store.ping()
    components["storage"] = {"status": "up"} if ok else {"status": "down", "detail": reason}
    healthy = all(c["status"] == "up" for c in components.values())
    return jsonify(status="ok" if healthy else "degraded", components=components), (200 if healthy else 503)
