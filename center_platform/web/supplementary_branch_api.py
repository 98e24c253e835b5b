"""The route branches send their admins' decisions on supplementary recordings to (HMAC-signed)."""

from __future__ import annotations

from flask import Blueprint, g, jsonify, request
from flask.typing import ResponseReturnValue
from pydantic import ValidationError

from center_platform.archive.supplementary import SupplementaryError, record_branch_decision
from center_platform.db.models import Branch
from center_platform.web import services
from center_platform.web.branch_auth import require_branch
from storage.contract.routes import PREFIX
from storage.contract.supplementary import (
    DECISIONS_RULE,
    DecisionOutcome,
    DecisionsReceipt,
    SupplementaryDecisions,
)

bp = Blueprint("supplementary_branch_api", __name__, url_prefix=PREFIX)


@bp.post(DECISIONS_RULE)
@require_branch
def decisions() -> ResponseReturnValue:
    try:
        sent = SupplementaryDecisions.model_validate_json(request.get_data())
    except ValidationError as exc:
        return jsonify(error=f"决定格式有误 / malformed decisions: {exc.error_count()} problem(s)"), 422
    outcomes: list[DecisionOutcome] = []
    with services().sessions() as db:
        branch = db.get(Branch, g.branch_id)
        assert branch is not None
        for d in sent.decisions:
            try:
                outcome, state = record_branch_decision(
                    db, branch, d.clip_id, d.business_serial, d.decision, d.reason, d.decided_by, d.decided_at
                )
            except SupplementaryError as exc:
                outcomes.append(DecisionOutcome(clip_id=d.clip_id, outcome="refused", detail=str(exc)))
                continue
            outcomes.append(DecisionOutcome(clip_id=d.clip_id, outcome=outcome, state=state))
        db.commit()
    return jsonify(DecisionsReceipt(outcomes=outcomes).model_dump(mode="json"))
