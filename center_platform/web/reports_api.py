"""Report figures as JSON: the same filters and branch restriction as the report pages."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from center_platform.reports.figures import assessment, by_branch, figures_json, trend
from center_platform.reports.supplementary import supplementary_counts
from center_platform.web import services
from center_platform.web.reports_ui import report_filters

bp = Blueprint("reports_api", __name__, url_prefix="/api/reports")


@bp.get("/assessment")
def assessment_json() -> ResponseReturnValue:
    f, args = report_filters()
    with services().sessions() as db:
        staff = assessment(db, f)
        return jsonify(
            filters=args,
            staff=[figures_json(x) for x in staff],
            branches=[figures_json(x) for x in by_branch(staff)],
            days=[figures_json(x) for x in trend(db, f)],
            supplementary=supplementary_counts(db, f).to_json(),
        )
