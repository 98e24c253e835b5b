"""The branch heartbeat: what a branch reports about itself every minute, and the center's receipt.

Both sides import these models, so a field renamed on one side fails the other's tests, not production.
Times are UTC; the center shows them in its display time zone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Msg(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SourceHealthReport(_Msg):
    """Every field of branch_agent.sources.SourceHealth, as `dataclasses.asdict` gives it."""

    name: str = Field(max_length=100)
    connected: bool
    last_frame_age_s: float | None
    fps: float
    errors: int
    reconnects: int
    detail: str = Field(max_length=2000)
    kind: str = Field(default="", max_length=32)
    bitrate_kbps: float = 0.0
    clock_offset_s: float | None = None


class CounterHealthReport(_Msg):
    code: str = Field(max_length=32)
    recording: bool
    sources: list[SourceHealthReport]


class DiskReport(_Msg):
    total_bytes: int = Field(ge=0)
    free_bytes: int = Field(ge=0)
    spool_bytes: int = Field(ge=0)
    daily_bytes: float = Field(ge=0)
    days_left: float | None


class UploadReport(_Msg):
    queued_clips: int = Field(ge=0)
    queued_bytes: int = Field(ge=0)
    quarantined_clips: int = Field(ge=0)
    last_success_at: datetime | None
    oldest_unverified_clip_id: str | None
    oldest_unverified_at: datetime | None
    last_error: str = Field(default="", max_length=2000)


class SyncReport(_Msg):
    """One synced resource (products, staff, branch configuration) as the branch last saw it."""

    resource: str = Field(max_length=32)
    etag: str | None
    synced_at: datetime | None
    attempted_at: datetime | None
    error: str = Field(default="", max_length=2000)


AlertCode = Literal["disk_low", "config_mismatch", "sync_failed"]


class HeartbeatAlert(_Msg):
    code: AlertCode
    message: str = Field(max_length=2000)


class BranchAuditLine(_Msg):
    """A branch-local audit line; `branch_audit_id` makes re-sending it harmless."""

    branch_audit_id: int = Field(ge=1)
    at: datetime
    actor: str = Field(max_length=64)
    action: str = Field(max_length=48)
    target: str = Field(max_length=128)
    detail: str = Field(max_length=20000)


MAX_AUDIT_LINES = 500


class Heartbeat(_Msg):
    sent_at: datetime
    software_version: str = Field(max_length=64)
    clock_offset_s: float
    counters: list[CounterHealthReport] = Field(max_length=64)
    disk: DiskReport
    uploads: UploadReport
    sync: list[SyncReport] = Field(default_factory=list, max_length=16)
    alerts: list[HeartbeatAlert] = Field(default_factory=list, max_length=32)
    audit: list[BranchAuditLine] = Field(default_factory=list, max_length=MAX_AUDIT_LINES)


class HeartbeatReceipt(_Msg):
    received_at: datetime
    # Every branch audit id of the heartbeat now in the center's trail (new or stored before).
    audit_stored: list[int]
