"""The branch admin's decisions on supplementary recordings, kept until the center has them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from branch_agent.db.models import Base
from storage.database import UtcDateTime


class SupplementaryDecisionRow(Base):
    """One decision per clip at the branch; `sent_at` is set once the center has answered on it."""

    __tablename__ = "supplementary_decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    clip_id: Mapped[str] = mapped_column(String(32), unique=True)
    business_serial: Mapped[str] = mapped_column(String(64))
    decision: Mapped[str] = mapped_column(String(16))  # approved | rejected
    reason: Mapped[str] = mapped_column(Text)
    decided_by: Mapped[str] = mapped_column(String(7))
    decided_at: Mapped[datetime] = mapped_column(UtcDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True, index=True)
    # The center's answer: taken | overruled | refused, and the state it holds for the clip.
    center_outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)
    center_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    send_error: Mapped[str] = mapped_column(Text, default="")
