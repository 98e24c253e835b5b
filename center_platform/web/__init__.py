"""The center's web layer: one blueprint per module, named as the module; JSON APIs (`*_api`) and pages
(`ui`, `*_ui`). Who may use which endpoint is `roles`, applied to every request by `access_guard`."""

from __future__ import annotations

from flask import current_app

from center_platform.services import CenterServices


def services() -> CenterServices:
    return current_app.extensions["center"]
