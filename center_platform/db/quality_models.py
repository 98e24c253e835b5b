"""What the quality check found on each archived clip, one row per finding, so that search can ask
"clips where no face was seen" without reading every report."""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from center_platform.db.models import Base

_BIG_ID = BigInteger().with_variant(Integer, "sqlite")


class QualityFinding(Base):
    __tablename__ = "quality_findings"
    __table_args__ = (Index("ix_quality_findings_code_recording", "code", "recording_id"),)

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True)
    recording_id: Mapped[int] = mapped_column(ForeignKey("recordings.id"), index=True)
    code: Mapped[str] = mapped_column(String(24))  # storage.quality FindingCode
    severity: Mapped[str] = mapped_column(String(8))  # fail | warn
    subject: Mapped[str] = mapped_column(String(16))  # desk | environment | microphone | clip
    start_ms: Mapped[int] = mapped_column(BigInteger)
    end_ms: Mapped[int] = mapped_column(BigInteger)
