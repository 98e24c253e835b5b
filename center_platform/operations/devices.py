"""Every device of every branch, as the branches' heartbeats report them: a counter's environment camera,
desk camera and microphone, the GB/T 28181 devices and their channels.

Each heartbeat updates one row per device and appends a history row whenever a device's status (ok,
degraded, offline) changes. The same look at the heartbeat gives the alert conditions about the
branch's devices, disk, backlog and what the branch itself reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from center_platform.db.models import Branch
from center_platform.db.operations_models import DeviceState, DeviceStatusChange
from center_platform.operations.alerts import Condition, Scope
from storage.contract.heartbeat import GbDeviceReport, Heartbeat, SourceHealthReport
from storage.quality.live import FINDING_LABELS

# A picture or sound older than this is no picture: the recorder would leave a gap.
STALE_AFTER_S: Final = 5.0
ROLE_LABELS: Final = {
    "environment": "环境摄像头 / environment camera",
    "desk": "桌面摄像头 / desk camera",
    "microphone": "麦克风 / microphone",
    "gb_device": "GB/T 28181 设备 / device",
    "gb_channel": "GB/T 28181 通道 / channel",
}
STATUS_LABELS: Final = {"ok": "正常 / OK", "degraded": "异常 / degraded", "offline": "离线 / offline"}
HEARTBEAT_KINDS: Final = frozenset(
    {"device_offline", "device_degraded", "picture", "disk_low", "backlog", "branch_reported"}
)


@dataclass(frozen=True)
class DeviceReading:
    """One device as one heartbeat shows it."""

    key: str
    counter_code: str
    role: str
    name: str
    kind: str
    status: str
    problem: str
    online: bool
    fps: float | None = None
    last_frame_age_s: float | None = None
    errors: int = 0
    dropped_recent: int = 0
    clock_offset_s: float | None = None
    manufacturer: str = ""
    model: str = ""
    firmware: str = ""
    detail: str = ""
    diagnosis_json: str | None = None
    snapshot: bytes | None = None
    snapshot_at: datetime | None = None
    findings: tuple[str, ...] = ()


def _source_status(role: str, s: SourceHealthReport) -> tuple[str, str]:
    what = "声音 / sound" if role == "microphone" else "画面 / picture"
    if not s.connected:
        return "offline", f"未连接 / not connected: {s.detail}"[:500]
    if s.last_frame_age_s is None:
        return "offline", f"尚无{what}"
    if s.last_frame_age_s > STALE_AFTER_S:
        return "offline", f"{what}中断 {s.last_frame_age_s:.0f} 秒 / none for {s.last_frame_age_s:.0f} s"
    if s.dropped_recent:
        return "degraded", f"最近一分钟丢失 {s.dropped_recent} 段声音 / {s.dropped_recent} chunks of sound dropped"
    if s.diagnosis is not None and s.diagnosis.findings:
        return "degraded", "；".join(FINDING_LABELS[f] for f in s.diagnosis.findings)
    return "ok", ""


def _source_reading(counter: str, s: SourceHealthReport, fallback_role: str) -> DeviceReading:
    role = s.role or fallback_role
    status, problem = _source_status(role, s)
    diagnosis = s.diagnosis
    return DeviceReading(
        key=f"{counter}/{role}",
        counter_code=counter,
        role=role,
        name=s.name,
        kind=s.kind,
        status=status,
        problem=problem,
        online=s.connected,
        fps=s.fps,
        last_frame_age_s=s.last_frame_age_s,
        errors=s.errors,
        dropped_recent=s.dropped_recent,
        clock_offset_s=s.clock_offset_s,
        manufacturer=s.manufacturer,
        model=s.model,
        firmware=s.firmware,
        detail=s.detail,
        diagnosis_json=diagnosis.model_copy(update={"snapshot_jpeg": b""}).model_dump_json() if diagnosis else None,
        snapshot=diagnosis.snapshot_jpeg if diagnosis is not None and diagnosis.snapshot_jpeg else None,
        snapshot_at=diagnosis.at if diagnosis is not None and diagnosis.snapshot_jpeg else None,
        findings=tuple(diagnosis.findings) if diagnosis else (),
    )


def _gb_readings(d: GbDeviceReport) -> list[DeviceReading]:
    out = [
        DeviceReading(
            key=f"gb/{d.device_id}",
            counter_code="",
            role="gb_device",
            name=d.device_id,
            kind="gb28181",
            status="ok" if d.online else "offline",
            problem="" if d.online else f"离线 / offline: {d.offline_reason}",
            online=d.online,
            manufacturer=d.manufacturer,
            model=d.model,
            firmware=d.firmware,
            detail=f"{d.transport} {d.address} {d.user_agent}".strip(),
            last_frame_age_s=d.last_seen_age_s,
        )
    ]
    for ch in d.channels:
        on = d.online and ch.status.upper() in ("ON", "ONLINE", "OK", "")
        out.append(
            DeviceReading(
                key=f"gb/{d.device_id}/{ch.channel_id}",
                counter_code="",
                role="gb_channel",
                name=f"{ch.channel_id} {ch.name}".strip(),
                kind="gb28181",
                status="ok" if on else "offline",
                problem="" if on else f"通道状态 / channel status {ch.status or 'OFF'}",
                online=on,
            )
        )
    return out


def readings(beat: Heartbeat) -> list[DeviceReading]:
    out: list[DeviceReading] = []
    for counter in beat.counters:
        # Older branches do not name the role; their sources come in the order environment, desk, microphone.
        for fallback, source in zip(("environment", "desk", "microphone"), counter.sources, strict=False):
            out.append(_source_reading(counter.code, source, fallback))
    if beat.gb28181 is not None:
        for device in beat.gb28181.devices:
            out.extend(_gb_readings(device))
    return out


def record_devices(db: Session, branch_id: int, beat: Heartbeat, now: datetime) -> list[DeviceReading]:
    """Updates the branch's device rows and their history; a device missing from the beat goes offline."""
    current = readings(beat)
    rows = {
        r.device_key: r for r in db.execute(select(DeviceState).where(DeviceState.branch_id == branch_id)).scalars()
    }
    for reading in current:
        row = rows.pop(reading.key, None)
        if row is None:
            row = DeviceState(branch_id=branch_id, device_key=reading.key, status="", changed_at=now)
            db.add(row)
        if row.status != reading.status:
            db.add(
                DeviceStatusChange(
                    branch_id=branch_id,
                    device_key=reading.key,
                    at=now,
                    status_from=row.status,
                    status_to=reading.status,
                    problem=reading.problem,
                )
            )
            row.changed_at = now
        row.counter_code = reading.counter_code
        row.role = reading.role
        row.name = reading.name[:200]
        row.kind = reading.kind[:32]
        row.status = reading.status
        row.problem = reading.problem
        row.online = reading.online
        row.fps = reading.fps
        row.last_frame_age_s = reading.last_frame_age_s
        row.errors = reading.errors
        row.dropped_recent = reading.dropped_recent
        row.clock_offset_s = reading.clock_offset_s
        # Identity is learnt at connection; a beat from a camera reconnecting must not erase it.
        row.manufacturer = reading.manufacturer or row.manufacturer or ""
        row.model = reading.model or row.model or ""
        row.firmware = reading.firmware or row.firmware or ""
        row.detail = reading.detail[:2000]
        if reading.diagnosis_json is not None:
            row.diagnosis_json = reading.diagnosis_json
        if reading.snapshot is not None:
            row.snapshot_jpeg = reading.snapshot
            row.snapshot_at = reading.snapshot_at
        row.seen_at = now
    for row in rows.values():
        if row.status != "offline":
            gone = "不再报告 / no longer reported by the branch"
            db.add(
                DeviceStatusChange(
                    branch_id=branch_id,
                    device_key=row.device_key,
                    at=now,
                    status_from=row.status,
                    status_to="offline",
                    problem=gone,
                )
            )
            row.status, row.problem, row.online, row.changed_at = "offline", gone, False, now
    return current


def heartbeat_conditions(
    branch: Branch, beat: Heartbeat, current: list[DeviceReading], now: datetime, backlog_max_age: timedelta
) -> tuple[Scope, list[Condition]]:
    """What is wrong at the branch by this heartbeat, and the scope it speaks for."""
    code = branch.code
    out: list[Condition] = []
    for r in current:
        subject = f"{code}/{r.key}"
        label = f"{code} {r.counter_code} {ROLE_LABELS.get(r.role, r.role)} {r.name}".replace("  ", " ")
        if r.status == "offline":
            out.append(Condition("device_offline", subject, f"{label}: {r.problem}", branch.id, "critical"))
        elif r.dropped_recent:
            out.append(Condition("device_degraded", subject, f"{label}: {r.problem}", branch.id))
        if r.findings and r.status != "offline":
            text = "；".join(FINDING_LABELS[f] for f in r.findings if f in FINDING_LABELS)
            out.append(Condition("picture", subject, f"{label}: {text}", branch.id))
    for alert in beat.alerts:
        if alert.code == "disk_low":
            out.append(Condition("disk_low", f"{code}/disk", f"{code}: {alert.message}", branch.id, "critical"))
        else:
            out.append(Condition("branch_reported", f"{code}/{alert.code}", f"{code}: {alert.message}", branch.id))
    oldest = beat.uploads.oldest_unverified_at
    if oldest is not None and now - oldest > backlog_max_age:
        hours = (now - oldest).total_seconds() / 3600
        out.append(
            Condition(
                "backlog",
                f"{code}/uploads",
                f"{code}: 最早未核验录像已等待 {hours:.0f} 小时（{beat.uploads.queued_clips} 段）/ oldest clip not "
                f"verified for {hours:.0f} h ({beat.uploads.queued_clips} clips queued)",
                branch.id,
            )
        )
    return Scope(HEARTBEAT_KINDS, f"{code}/"), out


def branch_devices(db: Session, branch_id: int) -> list[DeviceState]:
    return list(
        db.execute(
            select(DeviceState)
            .where(DeviceState.branch_id == branch_id)
            .order_by(DeviceState.counter_code == "", DeviceState.counter_code, DeviceState.device_key)
        )
        .scalars()
        .all()
    )


def device_history(db: Session, branch_id: int, device_key: str, limit: int = 100) -> list[DeviceStatusChange]:
    return list(
        db.execute(
            select(DeviceStatusChange)
            .where(DeviceStatusChange.branch_id == branch_id, DeviceStatusChange.device_key == device_key)
            .order_by(DeviceStatusChange.at.desc(), DeviceStatusChange.id.desc())
            .limit(limit)
        )
        .scalars()
        .all()
    )
