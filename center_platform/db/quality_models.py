"""What the quality check found on each archived clip, one row per finding, so that search can ask
"clips where no face was seen" without reading every report."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from center_platform.db.models import Base, Recording, UtcDateTime
from storage.quality.report import Finding

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

    @classmethod
    def of(cls, recording_id: int, found: Finding) -> QualityFinding:
        return cls(
            recording_id=recording_id,
            code=found.code,
            severity=found.severity,
            subject=found.subject,
            start_ms=round(found.start_s * 1000),
            end_ms=round(found.end_s * 1000),
        )


# Search by verdict ("fail", or not yet checked: NULL) pages newest first without reading every row.
Index("ix_recordings_quality_started", Recording.quality_verdict, Recording.started_at)


class QualityAttempt(Base):
    """A clip whose media analysis has been started and not yet given a report. The attempt is
    counted before the analysis starts, so a center that dies during it still counts it; the row
    goes when the report is written."""

    __tablename__ = "quality_attempts"

    recording_id: Mapped[int] = mapped_column(ForeignKey("recordings.id"), primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_error: Mapped[str] = mapped_column(Text, default="")
