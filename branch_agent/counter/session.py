"""One counter's recording lifecycle: idle → recording → completed | cancelled | interrupted.

A crash at any point leaves either a row in `recording` state (fixed up at start-up as an
*interrupted* clip) or a fully committed clip (see clip_manifest for the commit order); never a row
pointing at nothing. A recorder that fails mid-clip is closed the same way, at once.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from branch_agent.config import BranchConfig, CounterSection
from branch_agent.counter.sources import CounterSources
from branch_agent.db.models import CANCELLED, COMPLETED, RECORDING, Clip, SyncedProduct
from branch_agent.recorder import (
    EncoderSettings,
    EngineResult,
    OverlayRenderer,
    PipCompositor,
    PipLayout,
    RecordingEngine,
    RecordingFailed,
    sale_overlay,
)
from branch_agent.spool.clip_manifest import (
    SaleInfo,
    audit_local,
    build_manifest,
    chain_head,
    commit_manifest,
    fsync_dir,
)
from branch_agent.spool.disk_guard import DiskGuard
from branch_agent.spool.recovery import close_interrupted
from branch_agent.spool.replay_index import build_index_quietly
from branch_agent.spool.take_context import TakeContext
from storage.manifest import Consent, Marker, sha256_file
from storage.quality.policy import marker_key
from storage.signing import SigningKey

log = logging.getLogger(__name__)
REFUSED_REASON = "客户拒绝录音录像 Customer refused recording"


class SessionError(RuntimeError):
    """The action does not fit the counter's state (e.g. complete while idle); the message says why."""

    status = 409

    def details(self) -> dict[str, object]:
        return {}


class RequiredMarkersMissing(SessionError):
    """Complete without the product's required moments, and no reason given for it."""

    status = 422

    def __init__(self, missing: list[str]) -> None:
        names = "、".join(missing)
        super().__init__(
            f"尚未标记必录环节：{names}；请补录该环节，或填写未录原因后完成 / "
            f"required moments not marked: {', '.join(missing)}; record them, or give the reason to complete without"
        )
        self.missing = missing

    def details(self) -> dict[str, object]:
        return {"missing_markers": self.missing, "fields": {"markers_missing_reason": "必填 / required"}}


@dataclass(frozen=True)
class ClipSummary:
    clip_id: str
    state: str
    duration_ms: int
    size: int
    sha256: str
    media_path: Path
    manifest_path: Path
    # Output frames the recorder could not produce on time (a starved host): 0 on a healthy one.
    dropped_frames: int = 0


@dataclass(frozen=True)
class ActiveRecording:
    """What the counter screen shows about the clip in progress (e.g. after a page reload)."""

    clip_id: str
    staff_code: str
    sale: SaleInfo
    elapsed_ms: int
    markers: tuple[Marker, ...]
    engine_failure: str | None
    stalled_sources: tuple[str, ...]
    # The product's required moments in order, with when each was marked (None: not yet).
    steps: tuple[tuple[str, int | None], ...] = ()


class CounterSession:
    """Owns one counter's engine. Thread-safe: the UI may call from several request threads."""

    def __init__(
        self,
        config: BranchConfig,
        counter: CounterSection,
        sessions: sessionmaker[Session],
        key: SigningKey,
        sources: CounterSources,
        disk_guard: DiskGuard | None = None,
    ) -> None:
        self.config = config
        self.counter = counter
        self.sessions = sessions
        self.key = key
        self.sources = sources
        self.disk_guard = disk_guard
        self.tz = ZoneInfo(config.branch.timezone)
        self._lock = threading.Lock()
        self._engine: RecordingEngine | None = None
        self._clip_id: str | None = None
        self._sale: SaleInfo | None = None
        self._staff_code: str | None = None
        self._context = TakeContext()
        # Told of each clip closed (completed, or cut off and kept): the quality check takes it from there.
        self.on_closed: Callable[[str], None] | None = None
        rec = config.recorder
        self._settings = EncoderSettings(
            preset=rec.preset,
            bitrate=rec.bitrate_kbit * 1000,
            gop_seconds=rec.gop_seconds,
            audio_bitrate=rec.audio_bitrate_kbit * 1000,
        )
        lay = counter.layout
        self._compositor = PipCompositor(
            PipLayout(inset_width=lay.inset_width, inset_height=lay.inset_height, corner=lay.corner)
        )
        self._overlay = OverlayRenderer(config.branch.font_path, position=lay.overlay_position)

    @property
    def _markers(self) -> tuple[Marker, ...]:
        return self._context.markers

    @property
    def active_clip(self) -> str | None:
        return self._clip_id

    def replace_sources(self, counter: CounterSection, sources: CounterSources) -> bool:
        """Between takes only: closes the counter's sources and opens `sources` in their place, so that no
        take starts on half of each; False (nothing changed) while a take runs."""
        with self._lock:
            if self._clip_id is not None or self._engine is not None:
                return False
            self.sources.close()
            sources.open()
            self.sources = sources
            self.counter = counter
            return True

    def active_recording(self) -> ActiveRecording | None:
        with self._lock:
            if self._engine is None or self._clip_id is None or self._sale is None or self._staff_code is None:
                return None
            status = self._engine.status()
            return ActiveRecording(
                clip_id=self._clip_id,
                staff_code=self._staff_code,
                sale=self._sale,
                elapsed_ms=max(0, status.elapsed_ms),
                markers=self._markers,
                engine_failure=status.failure,
                stalled_sources=tuple(status.stalled_sources),
                steps=tuple(self.step_progress()),
            )

    def start(self, staff_code: str, sale: SaleInfo, context: TakeContext | None = None) -> str:
        """Starts a take; the sale form's consent box was ticked, so consent is given as it starts."""
        with self._lock:
            if self._engine is not None:
                raise SessionError(f"counter {self.counter.code} is already recording clip {self._clip_id}")
            shortage = self.disk_guard.shortage() if self.disk_guard else None
            if shortage is not None:
                # Refused before anything is written: a clip cut off by a full disk would be worse than none.
                with self.sessions() as db:
                    audit_local(
                        db,
                        staff_code,
                        "recording.refused",
                        self.counter.code,
                        {"reason": "disk_low", "free_bytes": shortage.free_bytes, "serial": sale.business_serial},
                    )
                    db.commit()
                raise SessionError(shortage.message)
            clip_id = uuid.uuid4().hex
            started = datetime.now(UTC)
            context = (context or TakeContext()).model_copy(
                update={"consent": Consent(at_ms=0, given_at=started), "markers": ()}
            )
            day_dir = self.config.spool_dir / started.astimezone(self.tz).strftime("%Y-%m-%d")
            for directory in (self.config.spool_dir, day_dir):  # clips and manifests: the agent's alone
                directory.mkdir(mode=0o700, exist_ok=True)
            media = day_dir / f"{clip_id}.mp4"
            engine = RecordingEngine(
                env=self.sources.environment,
                desk=self.sources.desk,
                mic=self.sources.microphone,
                compositor=self._compositor,
                overlay=self._overlay,
                overlay_text=sale_overlay(
                    self.config.branch.name,
                    self.counter.name,
                    staff_code,
                    sale.business_serial,
                    self.tz,
                    origin_line=self._origin_line(context),
                ),
                output_path=media,
                settings=self._settings,
            )
            # The row exists before the first byte, so a crash mid-recording is found at start-up.
            with self.sessions() as db:
                db.add(
                    Clip(
                        clip_id=clip_id,
                        counter_code=self.counter.code,
                        staff_code=staff_code,
                        business_serial=sale.business_serial,
                        sale_json=json.dumps(asdict(sale), ensure_ascii=False),
                        state=RECORDING,
                        media_path=str(media),
                        started_at=started,
                        context_json=context.to_row(),
                    )
                )
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
                audit_local(
                    db,
                    staff_code,
                    "recording.started",
                    clip_id,
                    {
                        "serial": sale.business_serial,
                        "counter": self.counter.code,
                        "origin": context.origin,
                        "earlier_clip_id": context.earlier_clip_id,
                        "consent_at": started.isoformat(),
                    },
                )
                db.commit()
            self._engine, self._clip_id, self._sale, self._staff_code = engine, clip_id, sale, staff_code
            self._context = context
            return clip_id

    def _origin_line(self, context: TakeContext) -> str:
        """Burned into the picture: a take that is not the sale's own recording says so on every frame."""
        if context.supplementary is not None:
            sale_at = context.supplementary.sale_at.astimezone(self.tz).strftime("%Y-%m-%d %H:%M")
            return f"补录 SUPPLEMENTARY  原销售时间 {sale_at}"
        if context.origin == "re_recorded":
            return "重录 RE-RECORDED"
        return ""

    def refuse(self, actor: str, sale: SaleInfo) -> str:
        """The customer refused to be recorded: the sale must not go ahead. Kept as a cancelled take
        (no media) with its reason, so that the center's reconciliation shows the sale as refused."""
        reason = REFUSED_REASON
        with self._lock:
            if self._engine is not None:
                raise SessionError(f"counter {self.counter.code} is recording clip {self._clip_id}")
            clip_id = uuid.uuid4().hex
            now = datetime.now(UTC)
            never_written = self.config.spool_dir / now.astimezone(self.tz).strftime("%Y-%m-%d") / f"{clip_id}.mp4"
            with self.sessions() as db:
                db.add(
                    Clip(
                        clip_id=clip_id,
                        counter_code=self.counter.code,
                        staff_code=actor,
                        business_serial=sale.business_serial,
                        sale_json=json.dumps(asdict(sale), ensure_ascii=False),
                        state=CANCELLED,
                        media_path=str(never_written),
                        started_at=now,
                    )
                )
                audit_local(db, actor, "sale.recording_refused", sale.business_serial, {"counter": self.counter.code})
                audit_local(db, actor, "recording.cancelled", clip_id, {"reason": reason})
                db.commit()
            return clip_id

    def add_marker(self, kind: str, text: str = "") -> Marker:
        with self._lock:
            engine = self._require_recording()
            marker = Marker(kind=kind, at_ms=max(0, engine.status().elapsed_ms), text=text)
            self._context = self._context.with_marker(marker)
            # On the row at once: a clip cut off by a crash keeps the moments already marked.
            with self.sessions() as db:
                clip = db.execute(select(Clip).where(Clip.clip_id == self._clip_id)).scalar_one()
                clip.context_json = self._context.to_row()
                db.commit()
            return marker

    def _require_recording(self) -> RecordingEngine:
        if self._engine is None:
            raise SessionError(f"counter {self.counter.code} is not recording")
        return self._engine

    def step_progress(self) -> list[tuple[str, int | None]]:
        """The product's required moments in its order, each with when it was marked on the take in
        progress (ms from its start), or None if not yet."""
        if self._sale is None:
            return []
        with self.sessions() as db:
            product = db.execute(
                select(SyncedProduct).where(SyncedProduct.code == self._sale.product_code)
            ).scalar_one_or_none()
        required: list[str] = json.loads(product.required_markers or "[]") if product else []
        marked: dict[str, int] = {}
        for m in self._markers:
            marked.setdefault(marker_key(m.text.strip() if m.kind == "note" and m.text.strip() else m.kind), m.at_ms)
        return [(name, marked.get(marker_key(name))) for name in required]

    def required_markers_missing(self) -> list[str]:
        return [name for name, at_ms in self.step_progress() if at_ms is None]

    def complete(self, actor: str, markers_missing_reason: str = "") -> ClipSummary:
        with self._lock:
            engine = self._require_recording()
            assert self._clip_id and self._sale
            missing = self.required_markers_missing()
            reason = markers_missing_reason.strip()[:500]
            if missing and not reason:
                raise RequiredMarkersMissing(missing)
            if missing:
                self._context = self._context.model_copy(update={"markers_missing_reason": reason})
            try:
                result = engine.stop()
            except RecordingFailed as exc:
                # What reached the disk is evidence: keep it as an interrupted clip, never drop it.
                clip_id = self._clip_id
                self._reset()
                with self.sessions() as db:
                    clip = db.execute(select(Clip).where(Clip.clip_id == clip_id)).scalar_one()
                    kept = close_interrupted(db, clip, self.config.branch.code, self.key, reason=str(exc))
                if kept and self.on_closed is not None:
                    self.on_closed(clip_id)
                raise SessionError(
                    f"the recorder failed during clip {clip_id} ({exc}); what was recorded is kept as interrupted"
                ) from exc
            summary = self._finish(result, actor)
            self._reset()
        if self.on_closed is not None:
            self.on_closed(summary.clip_id)
        return summary

    def _finish(self, result: EngineResult, actor: str) -> ClipSummary:
        assert self._clip_id and self._sale
        codec = {
            "video_codec": result.video_codec,
            "width": result.width,
            "height": result.height,
            "fps": result.fps,
            "audio_codec": result.audio_codec,
            "sample_rate": result.sample_rate,
        }
        gaps = [{"source": g.source, "start_ms": g.start_ms, "duration_ms": g.duration_ms} for g in result.gaps]
        with self.sessions() as db:
            media = Path(db.execute(select(Clip.media_path).where(Clip.clip_id == self._clip_id)).scalar_one())
        # Hashed before the chain is taken: other counters wait on the chain only for the signing.
        media_digest = sha256_file(media)
        build_index_quietly(media)  # for replay; the file was just read, so this is a few cached header reads
        with self.sessions() as db:
            prev = chain_head(db)
            clip = db.execute(select(Clip).where(Clip.clip_id == self._clip_id)).scalar_one()
            manifest = build_manifest(
                clip,
                self._sale,
                self.config.branch.code,
                "completed",
                result.started_at_utc,
                result.ended_at_utc,
                result.duration_ms,
                Path(clip.media_path),
                codec,
                gaps,
                list(self._markers),
                prev,
                self.key,
                media_digest,
                origin=self._context.origin,
                earlier_clip_id=self._context.earlier_clip_id,
                supplementary=self._context.supplementary,
                consent=self._context.consent,
                markers_missing_reason=self._context.markers_missing_reason,
            )
            commit_manifest(db, clip, manifest, COMPLETED)
            audit_local(
                db,
                actor,
                "recording.completed",
                clip.clip_id,
                {
                    "duration_ms": result.duration_ms,
                    "gaps": len(gaps),
                    "dropped_frames": result.dropped_ticks,
                    "markers_missing_reason": self._context.markers_missing_reason,
                },
            )
            db.commit()
            return ClipSummary(
                clip.clip_id,
                COMPLETED,
                result.duration_ms,
                manifest.media.size,
                manifest.media.sha256,
                Path(clip.media_path),
                Path(clip.manifest_path or ""),
                result.dropped_ticks,
            )

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
        self._staff_code = None
        self._context = TakeContext()
