"""One counter's recording lifecycle: idle → recording → completed | cancelled | interrupted.

Commit order on complete (after Moonfire NVR): the media file is fsync'd by the writer, the manifest
is written to a temporary file, fsync'd and renamed, the spool directory is fsync'd, and only then
is the database row committed. A crash at any point leaves either a row in `recording` state (fixed
up at start-up as an *interrupted* clip) or a fully committed clip; never a row pointing at nothing.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from branch_agent.config import BranchConfig, CounterSection
from branch_agent.counter_sources import CounterSources
from branch_agent.db.models import CANCELLED, COMPLETED, PENDING, RECORDING, ChainHead, Clip, LocalAudit
from branch_agent.recorder import (
    EncoderSettings,
    EngineResult,
    OverlayRenderer,
    OverlayText,
    PipCompositor,
    PipLayout,
    RecordingEngine,
)
from storage.manifest import ClipManifest, Marker, sha256_file
from storage.signing import SigningKey

log = logging.getLogger(__name__)


class SessionError(RuntimeError):
    """The action does not fit the counter's state (e.g. complete while idle); the message says why."""


@dataclass(frozen=True)
class SaleInfo:
    business_serial: str
    customer_name: str
    id_type: str
    id_number: str
    card_number: str
    product_code: str
    product_name: str
    product_type_code: str


@dataclass(frozen=True)
class ClipSummary:
    clip_id: str
    state: str
    duration_ms: int
    size: int
    sha256: str
    media_path: Path
    manifest_path: Path


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def audit_local(db: Session, actor: str, action: str, target: str, detail: dict[str, object] | None = None) -> None:
    db.add(LocalAudit(actor=actor, action=action, target=target, detail=json.dumps(detail or {}, ensure_ascii=False)))


def build_manifest(
    clip: Clip, sale: SaleInfo, branch_code: str, state: str, started_at: datetime, ended_at: datetime,
    duration_ms: int, media: Path, codec: dict[str, object], gaps: list[dict[str, object]], markers: list[Marker],
    prev: str | None, key: SigningKey,
) -> ClipManifest:
    digest, size = sha256_file(media)
    return ClipManifest.model_validate(
        {
            "clip_id": clip.clip_id,
            "state": state,
            "branch_code": branch_code,
            "counter_code": clip.counter_code,
            "staff_code": clip.staff_code,
            "business_serial": sale.business_serial,
            "customer": {"name": sale.customer_name, "id_type": sale.id_type, "id_number": sale.id_number, "card_number": sale.card_number},
            "product": {"code": sale.product_code, "name": sale.product_name, "type_code": sale.product_type_code},
            "started_at": started_at,
            "ended_at": ended_at,
            "duration_ms": duration_ms,
            "media": {"file_name": media.name, "size": size, "sha256": digest, **codec},
            "gaps": gaps,
            "markers": [m.model_dump() for m in markers],
            "prev_manifest_sha256": prev,
        }
    ).signed(key)


def commit_manifest(db: Session, clip: Clip, manifest: ClipManifest, state: str) -> None:
    """Manifest durable on disk first, then chain head and row in one transaction."""
    media = Path(clip.media_path)
    manifest_path = media.with_suffix(".manifest.json")
    write_durably(manifest_path, manifest.canonical_bytes())
    head = db.get(ChainHead, 1)
    if head is None:
        head = ChainHead(id=1, manifest_sha256=None)
        db.add(head)
    head.manifest_sha256 = manifest.manifest_sha256()
    clip.state = state
    clip.manifest_path = str(manifest_path)
    clip.ended_at = manifest.ended_at
    clip.duration_ms = manifest.duration_ms
    clip.size = manifest.media.size
    clip.sha256 = manifest.media.sha256
    clip.manifest_sha256 = head.manifest_sha256
    clip.upload_state = PENDING


def chain_head(db: Session) -> str | None:
    head = db.get(ChainHead, 1)
    return head.manifest_sha256 if head else None


class CounterSession:
    """Owns one counter's engine. Thread-safe: the UI may call from several request threads."""

    def __init__(
        self, config: BranchConfig, counter: CounterSection, sessions: sessionmaker[Session],
        key: SigningKey, sources: CounterSources,
    ) -> None:
        self.config = config
        self.counter = counter
        self.sessions = sessions
        self.key = key
        self.sources = sources
        self.tz = ZoneInfo(config.branch.timezone)
        self._lock = threading.Lock()
        self._engine: RecordingEngine | None = None
        self._clip_id: str | None = None
        self._sale: SaleInfo | None = None
        self._staff_code = ""
        self._markers: list[Marker] = []
        rec = config.recorder
        self._settings = EncoderSettings(
            preset=rec.preset, bitrate=rec.bitrate_kbit * 1000, gop_seconds=rec.gop_seconds, audio_bitrate=rec.audio_bitrate_kbit * 1000
        )
        lay = counter.layout
        self._compositor = PipCompositor(PipLayout(inset_width=lay.inset_width, inset_height=lay.inset_height, corner=lay.corner))
        self._overlay = OverlayRenderer(config.branch.font_path, position=lay.overlay_position)

    @property
    def active_clip(self) -> str | None:
        return self._clip_id

    def _overlay_text(self, sale: SaleInfo, staff_code: str):  # type: ignore[no-untyped-def]
        branch = self.config.branch.name
        counter = self.counter.name

        def lines(now: datetime) -> OverlayText:
            local = now.astimezone(self.tz)
            return OverlayText(
                lines=(
                    local.strftime("%Y-%m-%d %H:%M:%S"),
                    f"{branch}  {counter}",
                    f"员工 {staff_code}  业务单号 {sale.business_serial}",
                )
            )

        return lines

    def start(self, staff_code: str, sale: SaleInfo) -> str:
        with self._lock:
            if self._engine is not None:
                raise SessionError(f"counter {self.counter.code} is already recording clip {self._clip_id}")
            clip_id = uuid.uuid4().hex
            started = datetime.now(timezone.utc)
            day_dir = self.config.spool_dir / started.astimezone(self.tz).strftime("%Y-%m-%d")
            day_dir.mkdir(parents=True, exist_ok=True)
            media = day_dir / f"{clip_id}.mp4"
            engine = RecordingEngine(
                env=self.sources.environment, desk=self.sources.desk, mic=self.sources.microphone,
                compositor=self._compositor, overlay=self._overlay, overlay_text=self._overlay_text(sale, staff_code),
                output_path=media, settings=self._settings,
            )
            # The row exists before the first byte, so a crash mid-recording is found at start-up.
            with self.sessions() as db:
                db.add(Clip(clip_id=clip_id, counter_code=self.counter.code, staff_code=staff_code,
                            business_serial=sale.business_serial, sale_json=json.dumps(asdict(sale), ensure_ascii=False),
                            state=RECORDING, media_path=str(media), started_at=started))
                db.commit()
            try:
                engine.start()
            except Exception as exc:
                with self.sessions() as db:
                    clip = db.execute(select(Clip).where(Clip.clip_id == clip_id)).scalar_one()
                    clip.state = CANCELLED
                    audit_local(db, staff_code, "recording.start_failed", clip_id, {"error": str(exc)})
                    db.commit()
                media.unlink(missing_ok=True)
                raise SessionError(f"recording could not start: {exc}") from exc
            with self.sessions() as db:
                audit_local(db, staff_code, "recording.started", clip_id, {"serial": sale.business_serial, "counter": self.counter.code})
                db.commit()
            self._engine, self._clip_id, self._sale, self._staff_code = engine, clip_id, sale, staff_code
            self._markers = []
            return clip_id

    def add_marker(self, kind: str, text: str = "") -> Marker:
        with self._lock:
            engine = self._require_recording()
            marker = Marker(kind=kind, at_ms=max(0, engine.status().elapsed_ms), text=text)  # type: ignore[arg-type]
            self._markers.append(marker)
            return marker

    def _require_recording(self) -> RecordingEngine:
        if self._engine is None:
            raise SessionError(f"counter {self.counter.code} is not recording")
        return self._engine

    def complete(self, actor: str) -> ClipSummary:
        with self._lock:
            engine = self._require_recording()
            assert self._clip_id and self._sale
            result = engine.stop()
            summary = self._finish(result, actor)
            self._reset()
            return summary

    def _finish(self, result: EngineResult, actor: str) -> ClipSummary:
        assert self._clip_id and self._sale
        codec = {"video_codec": result.video_codec, "width": result.width, "height": result.height, "fps": result.fps,
                 "audio_codec": result.audio_codec, "sample_rate": result.sample_rate}
        gaps = [{"source": g.source, "start_ms": g.start_ms, "duration_ms": g.duration_ms} for g in result.gaps]
        with self.sessions() as db:
            clip = db.execute(select(Clip).where(Clip.clip_id == self._clip_id)).scalar_one()
            manifest = build_manifest(
                clip, self._sale, self.config.branch.code, "completed", result.started_at_utc, result.ended_at_utc,
                result.duration_ms, Path(clip.media_path), codec, gaps, self._markers, chain_head(db), self.key,
            )
            commit_manifest(db, clip, manifest, COMPLETED)
            audit_local(db, actor, "recording.completed", clip.clip_id, {"duration_ms": result.duration_ms, "gaps": len(gaps)})
            db.commit()
            return ClipSummary(clip.clip_id, COMPLETED, result.duration_ms, manifest.media.size, manifest.media.sha256,
                               Path(clip.media_path), Path(clip.manifest_path or ""))

    def cancel(self, actor: str, reason: str) -> None:
        if not reason.strip():
            raise SessionError("a cancelled recording needs a reason")
        with self._lock:
            engine = self._require_recording()
            clip_id = self._clip_id
            engine.abort()
            with self.sessions() as db:
                clip = db.execute(select(Clip).where(Clip.clip_id == clip_id)).scalar_one()
                Path(clip.media_path).unlink(missing_ok=True)
                fsync_dir(Path(clip.media_path).parent)
                clip.state = CANCELLED
                audit_local(db, actor, "recording.cancelled", clip.clip_id, {"reason": reason.strip()})
                db.commit()
            self._reset()

    def _reset(self) -> None:
        self._engine = None
        self._clip_id = None
        self._sale = None
        self._markers = []
