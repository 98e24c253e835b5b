"""Health for operations: every camera and microphone of every counter, connected or not.

The answer is public, so it names sources and says connected or not; why one is not goes to the log.
"""

from __future__ import annotations

import logging

from flask import Blueprint
from flask.typing import ResponseReturnValue

from branch_agent.sources.base import SourceHealth
from branch_agent.web import services

log = logging.getLogger(__name__)
bp = Blueprint("health", __name__)


@bp.get("/healthz")
def health() -> ResponseReturnValue:
    sources: list[SourceHealth] = []
    unreadable = 0
    for counter, s in services().sources.items():
        try:
            sources.extend(s.health())
        except Exception:
            log.exception("health: the sources of counter %s could not be read", counter)
            unreadable += 1
    ok = not unreadable and all(h.connected for h in sources)
    return {
        "status": "ok" if ok else "degraded",
        "sources": [{"name": h.name, "connected": h.connected} for h in sources],
    }, (200 if ok else 503)
