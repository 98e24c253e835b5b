"""Health for operations: every camera and microphone of every counter, connected or not."""

from __future__ import annotations

from flask import Blueprint
from flask.typing import ResponseReturnValue

from branch_agent.web import services

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def health() -> ResponseReturnValue:
    sources = [h for s in services().sources.values() for h in s.health()]
    ok = all(h.connected for h in sources)
    return {
        "status": "ok" if ok else "degraded",
        "sources": [{"name": h.name, "connected": h.connected} for h in sources],
    }, (200 if ok else 503)
