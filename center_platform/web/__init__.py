"""The center's web layer: one blueprint per domain, JSON APIs (`*_api`) and pages (`*_ui`)."""

from __future__ import annotations

from flask import current_app

from center_platform.services import CenterServices


def services() -> CenterServices:
    return current_app.extensions["center"]  # type: ignore[no-any-return]
