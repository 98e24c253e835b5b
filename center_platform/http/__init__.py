"""HTTP routers of the center, one blueprint per domain."""

from __future__ import annotations

from flask import current_app

from center_platform.services import CenterServices


def services() -> CenterServices:
    return current_app.extensions["center"]  # type: ignore[no-any-return]
