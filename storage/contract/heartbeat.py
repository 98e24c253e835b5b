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
MAX_GB_ITEMS = 256


class GbChannelReport(_Msg):
    channel_id: str = Field(max_length=32)
    name: str = Field(default="", max_length=200)
    status: str = Field(default="", max_length=32)


class GbDeviceReport(_Msg):
    """A GB/T 28181 device as the branch's platform (SIP registrar) knows it."""

    device_id: str = Field(max_length=32)
    online: bool
    transport: str = Field(max_length=8)
    address: str = Field(max_length=64)
    user_agent: str = Field(default="", max_length=200)
    offline_reason: str = Field(default="", max_length=200)
    last_seen_age_s: float | None = None
    channels: list[GbChannelReport] = Field(default_factory=list, max_length=MAX_GB_ITEMS)


class GbSessionReport(_Msg):
    """A live-video session the branch's platform holds with a GB/T 28181 channel."""

    device_id: str = Field(max_length=32)
    channel_id: str = Field(max_length=32)
    transport: str = Field(max_length=16)
    ssrc: str = Field(max_length=16)
    local_port: int
    remote: str = Field(max_length=64)
    started_at: datetime


class GbPlatformReport(_Msg):
    """The branch's GB/T 28181 platform; only sent by a branch configured with a [gb28181] section."""

    server_id: str = Field(max_length=32)
    running: bool
    error: str = Field(default="", max_length=2000)
    devices: list[GbDeviceReport] = Field(default_factory=list, max_length=MAX_GB_ITEMS)
    sessions: list[GbSessionReport] = Field(default_factory=list, max_length=MAX_GB_ITEMS)


class CancelledTakeReport(_Msg):
    """A take cancelled at the counter (取消录像): no clip, only this. Sent with its audit line
    (`branch_audit_id`), and acknowledged with it in the receipt's `audit_stored`."""

    branch_audit_id: int = Field(ge=1)
    clip_id: str = Field(max_length=32)
    business_serial: str = Field(max_length=64)
    counter_code: str = Field(max_length=32)
    staff_code: str = Field(max_length=7)
    product_code: str = Field(default="", max_length=40)
    reason: str = Field(max_length=2000)
    cancelled_at: datetime


class QueuedTakeReport(_Msg):
    """A clip of the upload backlog, so the center can tell "not yet uploaded" from "never recorded"."""

    clip_id: str = Field(max_length=32)
    business_serial: str = Field(max_length=64)
    counter_code: str = Field(max_length=32)
    staff_code: str = Field(max_length=7)
    started_at: datetime


MAX_QUEUED_TAKES = 2000


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
    # Branches without GB/T 28181 cameras (and older agents) leave it out.
    gb28181: GbPlatformReport | None = None
    # Older agents leave both out. `queued` None: not reported (the center keeps what it had); a list:
    # the whole backlog (oldest first, at most MAX_QUEUED_TAKES).
    cancelled: list[CancelledTakeReport] = Field(default_factory=list, max_length=MAX_AUDIT_LINES)
    queued: list[QueuedTakeReport] | None = Field(default=None, max_length=MAX_QUEUED_TAKES)


class HeartbeatReceipt(_Msg):
    received_at: datetime
    # Every branch audit id of the heartbeat now in the center's trail (new or stored before).
    audit_stored: list[int]
