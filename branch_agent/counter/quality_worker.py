"""The quality check of each closed clip, run at the branch so that the RM sees the verdict at once.

One check at a time, in its own process at the lowest priority (storage.quality.runner), held still
(SIGSTOP) whenever any counter of this host records, so that the next sale's recording keeps both
cores: the check of a 30-minute clip takes minutes and must never cost a dropped frame. A check that
cannot run leaves its error on the clip and no verdict; it is never taken for a pass.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from branch_agent.config import QualitySection
from branch_agent.db.models import COMPLETED, INTERRUPTED, Clip, SyncedProduct
from branch_agent.spool.clip_manifest import audit_local
from storage.manifest import ClipManifest
from storage.quality.policy import ManifestFacts, QualityPolicy, Role
from storage.quality.report import QualityReport
from storage.quality.runner import QualityCheckFailed, QualityCheckProcess, start_quality_check

log = logging.getLogger(__name__)
POLL_S = 0.2
RECHECK_AT_START = timedelta(days=2)


@dataclass(frozen=True)
class ClipVerdict:
    """What the counter shows about a clip's check."""

    clip_id: str
    state: str  # queued | checking | done | failed
    report: QualityReport | None = None
    error: str = ""


def product_policy(db: Session, product_code: str, base: QualityPolicy | None = None) -> QualityPolicy:
    """The policy with the product's required moments and shortest recording, as last synced."""
    product = db.execute(select(SyncedProduct).where(SyncedProduct.code == product_code)).scalar_one_or_none()
    base = base or QualityPolicy()
    if product is None:
        return base
    return base.for_product(json.loads(product.required_markers or "[]"), product.min_duration_s)


class ClipQualityWorker:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        config: QualitySection,
        any_recording: Callable[[], bool],
        source_roles: Callable[[str], dict[str, Role]],
    ) -> None:
        self.sessions = sessions
        self.config = config
        self._any_recording = any_recording
        self._source_roles = source_roles
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._queued: set[str] = set()
        self._current: str | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- what the counter asks -------------------------------------------------------------------

    def submit(self, clip_id: str) -> None:
        with self._lock:
            if clip_id in self._queued or clip_id == self._current:
                return
            self._queued.add(clip_id)
        self._queue.put(clip_id)

    def verdict(self, clip_id: str) -> ClipVerdict:
        with self._lock:
            if clip_id == self._current:
                return ClipVerdict(clip_id, "checking")
            if clip_id in self._queued:
                return ClipVerdict(clip_id, "queued")
        with self.sessions() as db:
            clip = db.execute(select(Clip).where(Clip.clip_id == clip_id)).scalar_one_or_none()
        if clip is None:
            raise KeyError(clip_id)
        if clip.quality_report_json:
            return ClipVerdict(clip_id, "done", QualityReport.model_validate_json(clip.quality_report_json))
        return ClipVerdict(clip_id, "failed" if clip.quality_error else "queued", error=clip.quality_error)

    # -- running ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Checks clips of the last days closed but never checked (e.g. before a restart), then each new one.
        Older ones (from before the check existed, or long uploaded) are left to the center's check."""
        if not self.config.enabled or self._thread is not None:
            return
        with self.sessions() as db:
            waiting = db.execute(
                select(Clip.clip_id)
                .where(
                    Clip.state.in_((COMPLETED, INTERRUPTED)),
                    Clip.quality_verdict.is_(None),
                    Clip.quality_error == "",
                    Clip.started_at >= datetime.now(UTC) - RECHECK_AT_START,
                )
                .order_by(Clip.started_at)
            ).scalars()
            for clip_id in waiting:
                self.submit(clip_id)
        self._thread = threading.Thread(target=self._run, name="clip-quality", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            clip_id = self._queue.get()
            if clip_id is None:
                return
            with self._lock:
                self._queued.discard(clip_id)
                self._current = clip_id
            try:
                self._check(clip_id)
            except Exception:  # the worker outlives one clip's fault; the clip keeps the error
                log.exception("quality check of clip %s failed", clip_id)
            finally:
                with self._lock:
                    self._current = None

    def _check(self, clip_id: str) -> None:
        with self.sessions() as db:
            clip = db.execute(select(Clip).where(Clip.clip_id == clip_id)).scalar_one_or_none()
            if clip is None or clip.manifest_path is None or not Path(clip.media_path).exists():
                return  # cancelled, or its media already purged after the center verified it
            manifest = ClipManifest.parse(Path(clip.manifest_path).read_bytes())
            policy = product_policy(db, manifest.product.code)
            media = Path(clip.media_path)
        facts = ManifestFacts.from_manifest(manifest, self._source_roles(manifest.counter_code))
        try:
            report = self._wait(start_quality_check(media, policy, facts, niceness=self.config.niceness), manifest)
        except QualityCheckFailed as exc:
            self._record(clip_id, None, str(exc))
            return
        self._record(clip_id, report, "")

    def _wait(self, check: QualityCheckProcess, manifest: ClipManifest) -> QualityReport:
        """Polls the check, holding it still while a counter records; bounded by its own running time."""
        budget = max(60.0, self.config.max_seconds_per_clip_minute * manifest.duration_ms / 60_000)
        ran = 0.0
        paused = False
        try:
            while True:
                report = check.poll()
                if report is not None:
                    return report
                if self._stop.is_set():
                    raise QualityCheckFailed("the branch agent stopped during the check; it runs again at start")
                hold = self.config.pause_while_recording and self._any_recording()
                if hold and not paused:
                    check.pause()
                elif not hold and paused:
                    check.resume()
                paused = hold
                time.sleep(POLL_S)
                if not paused:
                    ran += POLL_S
                if ran > budget:
                    raise QualityCheckFailed(f"the check ran longer than {budget:.0f} s")
        finally:
            check.resume()
            check.cancel()

    def _record(self, clip_id: str, report: QualityReport | None, error: str) -> None:
        with self.sessions() as db:
            clip = db.execute(select(Clip).where(Clip.clip_id == clip_id)).scalar_one()
            if report is not None:
                clip.quality_verdict = report.verdict
                clip.quality_report_json = report.model_dump_json()
                clip.quality_error = ""
                detail: dict[str, object] = {
                    "verdict": report.verdict,
                    "failures": [f.code for f in report.failures()],
                    "analyser": report.analyser_version,
                }
            else:
                clip.quality_error = error[:2000]
                detail = {"error": error[:500]}
            audit_local(db, "agent", "quality.checked" if report else "quality.check_failed", clip_id, detail)
            db.commit()
        if report is None:
            log.error("quality check of clip %s could not run: %s", clip_id, error)
