"""The agent's two pages: the counter (which signs in first) and the branch admin's page.

The pages carry no data of their own; their scripts fetch everything through the JSON APIs.
"""

from __future__ import annotations

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue

from branch_agent.web import services

bp = Blueprint("ui", __name__)


@bp.get("/")
def counter_page() -> ResponseReturnValue:
    config = services().config
    return render_template(
        "counter.html",
        branch=config.branch.name,
        counters=[(c.code, c.name) for c in config.counters],
    )


@bp.get("/admin")
def admin_page() -> ResponseReturnValue:
    # Only a branch admin gets here (roles); anyone else is sent back to the counter page.
    return render_template("admin.html", branch=services().config.branch.name)
