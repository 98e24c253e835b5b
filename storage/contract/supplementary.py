"""A branch admin's decision on a supplementary recording, sent to the center, and the center's receipt.

The route is a new one: a center that does not know it answers 404, and the branch keeps the decision
to send again, so branches and centers of different releases still work together.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from storage.contract.routes import PREFIX

DECISIONS_RULE = "/supplementary/decisions"
DECISIONS = PREFIX + DECISIONS_RULE
MAX_DECISIONS = 200  # in one request; more wait for the next

Decision = Literal["approved", "rejected"]


class _Msg(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SupplementaryDecision(_Msg):
    clip_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    business_serial: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    decision: Decision
    reason: str = Field(min_length=1, max_length=500)
    decided_by: str = Field(pattern=r"^[0-9]{7}$")  # the branch admin's staff code
    decided_at: datetime


class SupplementaryDecisions(_Msg):
    decisions: list[SupplementaryDecision] = Field(min_length=1, max_length=MAX_DECISIONS)


class DecisionOutcome(_Msg):
    clip_id: str
    # taken: now the clip's state at the center; overruled: a compliance officer had decided already
    # (the center keeps the branch's decision in its trail, the officer's stands); refused: the clip
    # is not a supplementary recording of this branch (detail says why), sending it again is no use.
    outcome: Literal["taken", "overruled", "refused"]
    state: Literal["approved", "rejected"] | None = None
    detail: str = ""


class DecisionsReceipt(_Msg):
    outcomes: list[DecisionOutcome]
