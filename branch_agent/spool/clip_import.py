"""A recording made on another device while the appliance was down, brought in by the branch admin.

The file is received into the spool directory itself (never a shared temporary directory: it shows a
customer), checked before anything is kept (an MP4 with H.264/H.265 picture and sound, a duration
above zero and within the limit, its first frames decode), then moved beside the recorded clips,
hashed, and given a manifest signed with the branch key and chained like any clip. The manifest says
where it came from (`origin` "imported" with its `imported` member), so the center never shows it as
recorded by the appliance. The normal uploader sends it.

A file refused leaves nothing behind but an audit line.
"""

from __future__ import annotations

import json
import os
import secrets
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import IO
from zoneinfo import ZoneInfo

import av
from sqlalchemy.orm import Session, sessionmaker

from branch_agent.db.models import COMPLETED, Clip
from branch_agent.spool.clip_manifest import (
    SaleInfo,
    audit_local,
    build_manifest,
    chain_head,
    commit_manifest,
    fsync_dir,
)
from branch_agent.spool.replay_index import build_index_quietly
from storage.manifest import ClipManifest, ImportedFrom, sha256_file
from storage.signing import SigningKey

VIDEO_CODECS = frozenset({"h264", "hevc"})
AUDIO_CODECS = frozenset({"aac", "mp3"})
# QuickTime files share the MP4 box structure but are not MP4: their major brand says so.
_QUICKTIME_BRAND = b"qt  "
RECEIVING_PREFIX = ".import-"


@dataclass(frozen=True)
class ImportLimits:
    max_bytes: int = 4 * 1024**3
    max_duration_s: int = 4 * 3600
    # A recording older than this is no longer "the appliance was down": the center flags clips that
    # waited longer than its max_clip_age_days (30 by default) at the branch.
    max_age_days: int = 30
    frames_decoded: int = 5


class ImportRefused(ValueError):
    """The file is not a recording the archive can take; the message is for the branch admin."""


@dataclass(frozen=True)
class VideoFacts:
    duration_ms: int
    video_codec: str
    width: int
    height: int
    fps: int
    audio_codec: str
    sample_rate: int

    def codec_fields(self) -> dict[str, object]:
        out = asdict(self)
        del out["duration_ms"]
        return out


@dataclass(frozen=True)
class ImportRequest:
    sale: SaleInfo
    counter_code: str
    staff_code: str  # the relationship manager who sold
    recorded_at: datetime  # when the other device started recording (UTC)
    device: str
    reason: str
    original_file_name: str
    imported_by: str  # the branch admin


NOT_A_VIDEO = "文件不是可播放的MP4录像，未保存 / the file is not a playable MP4 recording; nothing was kept"


def _major_brand(path: Path) -> bytes | None:
    with path.open("rb") as fh:
        head = fh.read(12)
    return head[8:12] if len(head) == 12 and head[4:8] == b"ftyp" else None


def _duration_ms(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> int:
    if container.duration is not None and container.duration > 0:
        return int(container.duration * 1000 // av.time_base)
    if stream.duration is not None and stream.time_base is not None:
        return int(stream.duration * stream.time_base * 1000)
    return 0


def check_video(path: Path, limits: ImportLimits) -> VideoFacts:
    """What the recording is, or ImportRefused saying why it cannot be taken."""
    size = path.stat().st_size
    if size == 0:
        raise ImportRefused("文件是空的，未保存 / the file is empty; nothing was kept")
    if size > limits.max_bytes:
        raise ImportRefused(
            f"文件超过 {limits.max_bytes // 1024**2} MB 上限，未保存 / "
            f"the file is larger than {limits.max_bytes // 1024**2} MB; nothing was kept"
        )
    brand = _major_brand(path)
    if brand is None or brand == _QUICKTIME_BRAND:
        raise ImportRefused(NOT_A_VIDEO)
    try:
        with av.open(str(path), mode="r") as container:
            if not container.streams.video:
                raise ImportRefused("文件中没有画面，未保存 / the file has no picture; nothing was kept")
            if not container.streams.audio:
                raise ImportRefused("双录须有声音，该文件没有声音，未保存 / the file has no sound; nothing was kept")
            video = container.streams.video[0]
            audio = container.streams.audio[0]
            video_codec, audio_codec = video.codec_context.name, audio.codec_context.name
            if video_codec not in VIDEO_CODECS or audio_codec not in AUDIO_CODECS:
                raise ImportRefused(
                    f"不支持的编码（画面 {video_codec}，声音 {audio_codec}），须为 H.264/H.265 与 AAC/MP3，未保存 / "
                    f"unsupported codecs (picture {video_codec}, sound {audio_codec}): H.264/H.265 with AAC/MP3 "
                    "are taken; nothing was kept"
                )
            duration_ms = _duration_ms(container, video)
            if duration_ms <= 0:
                raise ImportRefused("录像时长为零，未保存 / the recording has no duration; nothing was kept")
            if duration_ms > limits.max_duration_s * 1000:
                raise ImportRefused(
                    f"录像超过 {limits.max_duration_s // 60} 分钟上限，未保存 / the recording is longer than "
                    f"{limits.max_duration_s // 60} minutes; nothing was kept"
                )
            decoded = 0
            for _frame in container.decode(video=0):
                decoded += 1
                if decoded >= limits.frames_decoded:
                    break
            if decoded == 0:
                raise ImportRefused(NOT_A_VIDEO)
            rate = video.average_rate or video.guessed_rate or Fraction(25)
            return VideoFacts(
                duration_ms=duration_ms,
                video_codec=video_codec,
                width=int(video.codec_context.width),
                height=int(video.codec_context.height),
                fps=max(1, round(float(rate))),
                audio_codec=audio_codec,
                sample_rate=int(audio.codec_context.sample_rate or 0) or 48000,
            )
    except av.error.FFmpegError as exc:
        raise ImportRefused(NOT_A_VIDEO) from exc


def receiving_file(spool_dir: Path) -> tuple[Path, IO[bytes]]:
    """A new file in the spool for an upload in progress: the agent's alone from its first byte."""
    spool_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = spool_dir / f"{RECEIVING_PREFIX}{secrets.token_hex(8)}.part"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    return path, os.fdopen(fd, "wb")


def recorded_at_error(recorded_at: datetime, now: datetime, limits: ImportLimits) -> str | None:
    if recorded_at > now:
        return "录像时间不能晚于现在 / the recording time cannot be in the future"
    if recorded_at < now - timedelta(days=limits.max_age_days):
        return (
            f"录像时间早于 {limits.max_age_days} 天前，不能导入 / the recording is older than "
            f"{limits.max_age_days} days and cannot be imported"
        )
    return None


def import_recording(
    sessions: sessionmaker[Session],
    key: SigningKey,
    branch_code: str,
    spool_dir: Path,
    tz: ZoneInfo,
    req: ImportRequest,
    received: Path,
    limits: ImportLimits,
) -> ClipManifest:
    """Checks the received file and keeps it as a signed, chained, imported clip queued for upload.

    The received file is gone afterwards either way: moved into the spool, or deleted when refused.
    """
    try:
        facts = check_video(received, limits)
    except ImportRefused as refused:
        received.unlink(missing_ok=True)
        with sessions() as db:
            audit_local(
                db,
                req.imported_by,
                "recording.import_refused",
                req.sale.business_serial,
                {"file": req.original_file_name, "reason": str(refused)},
            )
            db.commit()
        raise
    clip_id = uuid.uuid4().hex
    started = req.recorded_at.astimezone(UTC)
    day_dir = spool_dir / started.astimezone(tz).strftime("%Y-%m-%d")
    day_dir.mkdir(mode=0o700, exist_ok=True)
    media = day_dir / f"{clip_id}.mp4"
    os.replace(received, media)
    fsync_dir(day_dir)
    try:
        digest = sha256_file(media)
        build_index_quietly(media)
        imported = ImportedFrom(
            original_file_name=req.original_file_name,
            device=req.device,
            reason=req.reason,
            imported_by=req.imported_by,
            imported_at=datetime.now(UTC),
        )
        with sessions() as db:
            clip = Clip(
                clip_id=clip_id,
                counter_code=req.counter_code,
                staff_code=req.staff_code,
                business_serial=req.sale.business_serial,
                sale_json=json.dumps(asdict(req.sale), ensure_ascii=False),
                state=COMPLETED,
                media_path=str(media),
                started_at=started,
            )
            db.add(clip)
            db.flush()
            prev = chain_head(db)
            manifest = build_manifest(
                clip,
                req.sale,
                branch_code,
                "completed",
                started,
                started + timedelta(milliseconds=facts.duration_ms),
                facts.duration_ms,
                media,
                facts.codec_fields(),
                [],
                [],
                prev,
                key,
                digest,
                origin="imported",
                imported=imported,
            )
            commit_manifest(db, clip, manifest, COMPLETED)
            audit_local(
                db,
                req.imported_by,
                "recording.imported",
                clip_id,
                {
                    "serial": req.sale.business_serial,
                    "file": req.original_file_name,
                    "device": req.device,
                    "duration_ms": facts.duration_ms,
                },
            )
            db.commit()
        return manifest
    except BaseException:
        # Nothing half-kept: without its committed manifest the file is no clip of the branch.
        media.unlink(missing_ok=True)
        media.with_suffix(".manifest.json").unlink(missing_ok=True)
        raise
