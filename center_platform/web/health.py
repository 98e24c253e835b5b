"""Health for operations: database and archive storage, each with its own state.

The answer is public, so it says up or down and nothing more; why a component is down goes to the log.
"""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from center_platform.web import services

log = logging.getLogger(__name__)
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
        log.error("health: database down: %s", str(exc).splitlines()[0])
        components["database"] = {"status": "down"}
    ok, reason = svc.store.ping()
    if not ok:
        log.error("health: archive storage down: %s", reason)
    components["storage"] = {"status": "up" if ok else "down"}
    healthy = all(c["status"] == "up" for c in components.values())
    return jsonify(status="ok" if healthy else "degraded", components=components), (200 if healthy else 503)
