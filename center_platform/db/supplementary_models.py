"""Approval of supplementary recordings: a clip recorded after the sale stands as the sale's evidence
once the branch admin (at the branch) or a compliance officer (at the center) has approved it.

Every decision is a row, never changed: the latest one for a clip is its state, and each is also in
the audit trail. A branch's decision may reach the center before the clip itself (clips upload
off-hours), so decisions are keyed by clip id, not by catalogue row.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from center_platform.db.models import Base, UtcDateTime, utcnow

_BIG_ID = BigInteger().with_variant(Integer, "sqlite")

APPROVED, REJECTED, PENDING = "approved", "rejected", "pending"
DECISIONS = (APPROVED, REJECTED)
# Who decided: the branch's admin at the branch, or a compliance officer at the center.
BY_BRANCH, BY_COMPLIANCE = "branch_admin", "compliance_officer"


class SupplementaryApproval(Base):
    __tablename__ = "supplementary_approvals"
    __table_args__ = (Index("ix_supplementary_approvals_clip", "clip_id", "id"),)

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True)
    clip_id: Mapped[str] = mapped_column(String(32))
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"), index=True)
    business_serial: Mapped[str] = mapped_column(String(64))
    decision: Mapped[str] = mapped_column(String(16))  # approved | rejected
    reason: Mapped[str] = mapped_column(Text)
    decided_by: Mapped[str] = mapped_column(String(64))  # staff code at the branch, user name at the center
    decided_as: Mapped[str] = mapped_column(String(24))  # branch_admin | compliance_officer
    decided_at: Mapped[datetime] = mapped_column(UtcDateTime())
    received_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
