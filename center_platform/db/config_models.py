"""Catalogue tables of central configuration: the cameras, upload window and limits the system admin set
for each branch (one versioned document per branch), and what the branch last reported of it.

Kept apart from `models.py` (same metadata, imported at its end) so that neither module grows past
the size the tree allows.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from center_platform.db.models import Base
from storage.database import UtcDateTime, utcnow


class BranchCentralConfig(Base):
    """A branch's central configuration (storage.contract.central_config.CentralConfig as JSON, without
    its version); each change raises the version, and the audit trail keeps every before and after."""

    __tablename__ = "branch_central_configs"

    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    document_json: Mapped[str] = mapped_column(Text)
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class BranchConfigReport(Base):
    """The branch's latest word on its central configuration: applied, waiting for a take to end, or
    refused with the reason (and the version it still runs)."""

    __tablename__ = "branch_config_reports"

    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))
    applied_version: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text, default="")
    waiting_counters_json: Mapped[str] = mapped_column(Text, default="[]")
    reported_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
