"""Catalogue tables of operations: every device of every branch as its heartbeats report it, the history
of its status changes, and the alerts raised about devices, picture quality, disks, backlogs, late
heartbeats, chain gaps, quarantines and failed checks, with their webhook deliveries.

Kept apart from `models.py` (same metadata, imported at its end) so that neither module grows past
the size the tree allows.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from center_platform.db.models import Base
from storage.database import UtcDateTime, utcnow


class DeviceState(Base):
    """A device of a branch as its latest heartbeat showed it: a counter's camera or microphone, a GB/T
    28181 device or one of its channels. `device_key` names it within the branch (stable across beats)."""

    __tablename__ = "device_states"
    __table_args__ = (UniqueConstraint("branch_id", "device_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"), index=True)
    device_key: Mapped[str] = mapped_column(String(120))
    counter_code: Mapped[str] = mapped_column(String(32), default="")  # "" for GB/T 28181 devices
    role: Mapped[str] = mapped_column(String(32))  # environment | desk | microphone | gb_device | gb_channel
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32), default="")
    status: Mapped[str] = mapped_column(String(16))  # ok | degraded | offline
    problem: Mapped[str] = mapped_column(Text, default="")
    online: Mapped[bool] = mapped_column(Boolean)
    fps: Mapped[float | None] = mapped_column(Float, nullable=True)
    last_frame_age_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    dropped_recent: Mapped[int] = mapped_column(Integer, default=0)
    clock_offset_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    manufacturer: Mapped[str] = mapped_column(String(200), default="")
    model: Mapped[str] = mapped_column(String(200), default="")
    firmware: Mapped[str] = mapped_column(String(200), default="")
    detail: Mapped[str] = mapped_column(Text, default="")
    # The branch's latest picture diagnosis (storage.contract.heartbeat.VideoDiagnosisReport without its
    # snapshot) and the snapshot itself, a small JPEG.
    diagnosis_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    snapshot_jpeg: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    snapshot_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    seen_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class DeviceStatusChange(Base):
    """One change of a device's status (ok, degraded, offline), kept as the device's history."""

    __tablename__ = "device_status_changes"
    __table_args__ = (Index("ix_device_status_changes_device", "branch_id", "device_key", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"))
    device_key: Mapped[str] = mapped_column(String(120))
    at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    status_from: Mapped[str] = mapped_column(String(16))  # "" when the device is first seen
    status_to: Mapped[str] = mapped_column(String(16))
    problem: Mapped[str] = mapped_column(Text, default="")


class Alert(Base):
    """One condition about one subject (a device, a branch's disk, ...): observed → raised →
    acknowledged → cleared. `open_key` is "kind|subject" while the alert is not cleared and NULL after,
    so a (kind, subject) has at most one open alert; repeats raise `occurrences`, never a second row.
    `pending` alerts have been observed but not yet often or long enough to be raised (debounce)."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    subject: Mapped[str] = mapped_column(String(200))
    open_key: Mapped[str | None] = mapped_column(String(240), nullable=True, unique=True, index=True)
    branch_id: Mapped[int | None] = mapped_column(ForeignKey("branches.id"), nullable=True, index=True)
    severity: Mapped[str] = mapped_column(String(16))  # warning | critical
    state: Mapped[str] = mapped_column(String(16), index=True)  # pending | raised | acknowledged | cleared
    message: Mapped[str] = mapped_column(Text)
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    misses: Mapped[int] = mapped_column(Integer, default=0)  # observations in a row without the condition
    first_seen_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    raised_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    acknowledged_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    cleared_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    cleared_by: Mapped[str | None] = mapped_column(String(64), nullable=True)  # "system" when it went away
    note: Mapped[str] = mapped_column(Text, default="")


class AlertDelivery(Base):
    """One alert transition to send to one webhook; sent grouped with the others due for that webhook."""

    __tablename__ = "alert_deliveries"
    __table_args__ = (Index("ix_alert_deliveries_due", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), index=True)
    webhook: Mapped[str] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(16))  # raised | repeated | acknowledged | cleared
    payload_json: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16))  # pending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
