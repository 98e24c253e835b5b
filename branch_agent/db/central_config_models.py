"""The spool database's record of the central configuration: the version running, its document (applied
again at start-up), the latest verdict and whether the center has heard it.

Kept apart from `models.py` (same metadata, imported at its end) so that neither module grows past
the size the tree allows.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from branch_agent.db.models import Base
from storage.database import UtcDateTime


class CentralConfigState(Base):
    """One row. `applied_*` is what runs (version 0: the file alone); `seen_*` the newest version pulled
    and the verdict on it; `etag` the reply it came in, so an unchanged configuration costs a 304."""

    __tablename__ = "central_config_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    applied_version: Mapped[int] = mapped_column(Integer, default=0)
    applied_json: Mapped[str] = mapped_column(Text, default="{}")
    applied_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    seen_version: Mapped[int] = mapped_column(Integer, default=0)
    etag: Mapped[str | None] = mapped_column(String(80), nullable=True)
    state: Mapped[str] = mapped_column(String(16), default="applied")
    reason: Mapped[str] = mapped_column(Text, default="")
    waiting_json: Mapped[str] = mapped_column(Text, default="[]")
    reported: Mapped[bool] = mapped_column(Boolean, default=False)
    pulled_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
