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


# Picture faults the branch's live diagnosis can find in one camera's frame (see VideoDiagnosisReport).
DiagnosisFinding = Literal[
    "signal_loss", "black", "frozen", "blurred", "too_dark", "too_bright", "colour_cast", "occluded", "moved"
]
# A snapshot is a thumbnail, never a picture to identify a customer from: about 320 pixels wide.
MAX_SNAPSHOT_BYTES = 24_000


class VideoDiagnosisReport(_Msg):
    """The latest picture diagnosis of a live camera: one frame, measured at the branch."""

    model_config = ConfigDict(extra="forbid", ser_json_bytes="base64", val_json_bytes="base64")

    at: datetime
    findings: list[DiagnosisFinding] = Field(default_factory=list, max_length=16)
    brightness: float | None = None  # mean luma 0..255
    sharpness: float | None = None  # variance of the Laplacian
    colour_cast: float | None = None  # distance of the mean chroma from grey, 0..~180
    covered_share: float | None = None  # share of the picture that is one flat, dark or blank area
    frozen_s: float | None = None  # how long the picture has not changed
    moved_px: float | None = None  # shift against the reference frame, in pixels of the analysed size
    reference_match: float | None = None  # share of the reference's features found again, 0..1
    reference_at: datetime | None = None
    snapshot_jpeg: bytes = Field(default=b"", max_length=MAX_SNAPSHOT_BYTES)
    detail: str = Field(default="", max_length=2000)


class SourceHealthReport(_Msg):
    """Every field of branch_agent.sources.SourceHealth, as `dataclasses.asdict` gives it, and what
    only the heartbeat adds (the source's role at the counter, its latest diagnosis).

    Fields after `clock_offset_s` have defaults: older branches do not send them.
    """

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
    # Sound dropped while a recorder was reading: in all, and in the last minute (what is wrong now).
    dropped: int = 0
    dropped_recent: int = 0
    manufacturer: str = Field(default="", max_length=200)
    model: str = Field(default="", max_length=200)
    firmware: str = Field(default="", max_length=200)
    role: str = Field(default="", max_length=32)  # environment | desk | microphone
    diagnosis: VideoDiagnosisReport | None = None


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
    # From the device's answer to a DeviceInfo query, where it gave one.
    manufacturer: str = Field(default="", max_length=200)
    model: str = Field(default="", max_length=200)
    firmware: str = Field(default="", max_length=200)
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
