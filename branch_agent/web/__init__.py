"""The counter UI and its JSON API, served by the branch agent: one blueprint per module, named as the
module; JSON APIs (`*_api`) and pages (`ui`). Who may use which endpoint is `roles`, applied to every
request by `access_guard`, as on the center."""

from __future__ import annotations

from flask import current_app

from branch_agent.services import BranchServices


def services() -> BranchServices:
    return current_app.extensions["branch"]
