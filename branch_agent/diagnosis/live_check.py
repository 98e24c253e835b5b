"""Every few minutes (and when the branch admin asks) each counter's cameras are diagnosed from one
frame: no signal, black, frozen, blurred, too dark or bright, colour cast, covered, moved since the
reference picture. Results travel in the heartbeat with a small snapshot and show on the admin page.

The check must never cost the recorder a frame: it reads the picture the camera already keeps (no
extra decoding), runs in one thread of its own at the lowest CPU priority, and looks at one camera at
a time. A camera's first healthy picture becomes its reference; the admin sets a new one after moving
the camera on purpose. References are kept in the data directory, so a restart does not forget them.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from branch_agent.counter.sources import CounterSources
from branch_agent.sources import SourceHealth, VideoFrame, VideoSource
from storage.contract.heartbeat import MAX_SNAPSHOT_BYTES, DiagnosisFinding, Heartbeat, VideoDiagnosisReport
from storage.database import utcnow
from storage.quality.live import FINDING_LABELS, LivePolicy, Reference, diagnose, reference_picture, snapshot_jpeg

log = logging.getLogger(__name__)
CAMERA_ROLES = ("environment", "desk")
_NS = 1_000_000_000


@dataclass(frozen=True)
class LiveCheckSettings:
    interval_s: float = 300.0
    # The second look that tells a frozen picture from a live one.
    probe_s: float = 1.0
    # A camera whose newest picture is older than this has lost its signal.
    stale_after_s: float = 5.0
    snapshot_width: int = 320
    niceness: int = 19


def _stored(path: Path) -> Reference | None:
    if not path.exists():
        return None
    try:
        with np.load(path) as data:
            return Reference(data["luma"], float(data["mean_a"]), float(data["mean_b"]))
    except (OSError, ValueError, KeyError) as exc:
        log.warning("reference picture %s unreadable (a new one is taken): %s", path, exc)
        return None


class LiveCheck:
    def __init__(
        self,
        settings: LiveCheckSettings,
        data_dir: Path,
        sources: Callable[[], dict[str, CounterSources]],
        policy: LivePolicy | None = None,
    ) -> None:
        self.settings = settings
        self.policy = policy or LivePolicy()
        self._dir = data_dir / "diagnosis"
        self._sources = sources
        self._lock = threading.Lock()  # one diagnosis at a time, scheduled or asked for
        self._results: dict[tuple[str, str], VideoDiagnosisReport] = {}
        self._snapshot_sent: dict[tuple[str, str], datetime] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- results -------------------------------------------------------------------------------

    def latest(self, counter: str, role: str) -> VideoDiagnosisReport | None:
        return self._results.get((counter, role))

    def for_heartbeat(self, counter: str, role: str) -> VideoDiagnosisReport | None:
        """The latest diagnosis, with its snapshot only until a heartbeat has carried it to the center:
        the center keeps it, and the WAN need not carry the same picture every minute."""
        report = self._results.get((counter, role))
        if report is None or self._snapshot_sent.get((counter, role)) == report.at:
            return report.model_copy(update={"snapshot_jpeg": b""}) if report is not None else None
        return report

    def snapshots_delivered(self, beat: Heartbeat) -> None:
        for counter in beat.counters:
            for source in counter.sources:
                if source.diagnosis is not None and source.diagnosis.snapshot_jpeg:
                    self._snapshot_sent[(counter.code, source.role)] = source.diagnosis.at

    def for_counter(self, counter: str) -> dict[str, VideoDiagnosisReport]:
        """The latest diagnosis of each of a counter's cameras, by role."""
        return {role: r for (code, role), r in list(self._results.items()) if code == counter}

    def _reference_path(self, counter: str, role: str) -> Path:
        return self._dir / f"{counter}-{role}.npz"

    def _save_reference(self, counter: str, role: str, ref: Reference) -> None:
        self._dir.mkdir(parents=True, exist_ok=True)
        path = self._reference_path(counter, role)
        tmp = path.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, luma=ref.luma, mean_a=ref.mean_a, mean_b=ref.mean_b)
        os.replace(tmp, path)

    # -- diagnosis -----------------------------------------------------------------------------

    def run(self, counter: str | None = None) -> dict[tuple[str, str], VideoDiagnosisReport]:
        """Diagnoses every camera (or one counter's) now; returns what it found."""
        out: dict[tuple[str, str], VideoDiagnosisReport] = {}
        with self._lock:
            cameras: list[tuple[str, str, VideoSource]] = [
                (code, role, getattr(sources, role))
                for code, sources in sorted(self._sources().items())
                if counter is None or code == counter
                for role in CAMERA_ROLES
            ]
            # Every camera's first look, one wait, then the second looks: a run takes one probe, not one per camera.
            firsts = [source.latest_frame() for _, _, source in cameras]
            if cameras:
                self._stop.wait(self.settings.probe_s)
            for (code, role, source), first in zip(cameras, firsts, strict=True):
                try:
                    report = self._diagnose(code, role, source, first)
                except Exception:  # one camera's odd picture must not stop the others' diagnosis
                    log.exception("diagnosis of %s %s failed", code, role)
                    continue
                self._results[(code, role)] = report
                out[(code, role)] = report
                if report.findings:
                    log.warning("camera %s %s: %s", code, role, ", ".join(FINDING_LABELS[f] for f in report.findings))
        return out

    def set_reference(self, counter: str, role: str) -> VideoDiagnosisReport:
        """The camera's current picture becomes its reference (after it was moved on purpose)."""
        sources = self._sources().get(counter)
        if sources is None or role not in CAMERA_ROLES:
            raise KeyError(f"{counter}/{role}")
        frame = getattr(sources, role).latest_frame()
        if frame is None:
            raise LookupError("摄像头没有画面，无法设为参考 / the camera has no picture to take as reference")
        with self._lock:
            self._save_reference(counter, role, reference_picture(frame.y, frame.u, frame.v, self.policy))
        return self.run(counter)[(counter, role)]

    def _signal_lost(self, health: SourceHealth, frame: VideoFrame | None) -> bool:
        age = health.last_frame_age_s
        return frame is None or not health.connected or age is None or age > self.settings.stale_after_s

    def _diagnose(self, counter: str, role: str, source: VideoSource, first: VideoFrame | None) -> VideoDiagnosisReport:
        """`first`: the camera's picture a probe ago."""
        now = utcnow()
        frame = source.latest_frame()
        health = source.health()
        if frame is None or self._signal_lost(health, frame):
            return VideoDiagnosisReport(at=now, findings=["signal_loss"], detail=health.detail[:2000])
        # The same picture (or none a probe ago) means no new frame to compare: a stall, which the stale
        # check reports once it lasts; identical content in a new frame is a frozen camera.
        earlier = first.y if first is not None and first.pts_ns != frame.pts_ns else None
        path = self._reference_path(counter, role)
        # A generated test picture scrolls and is tinted by design (to tell the two apart in the
        # composite): it has no place to have moved from and no white balance to lose.
        generated = health.kind == "synthetic"
        reference = _stored(path) if not generated else None
        found = diagnose(frame.y, frame.u, frame.v, self.policy, earlier_y=earlier, reference=reference)
        if generated:
            found = dataclasses.replace(
                found, findings=[f for f in found.findings if f not in ("moved", "colour_cast")]
            )
        reference_at: datetime | None = None
        if reference is None and not found.findings and not generated:
            self._save_reference(counter, role, reference_picture(frame.y, frame.u, frame.v, self.policy))
        if path.exists():
            reference_at = datetime.fromtimestamp(path.stat().st_mtime).astimezone()
        findings: list[DiagnosisFinding] = [f for f in found.findings if f in FINDING_LABELS]  # type: ignore[misc]
        return VideoDiagnosisReport(
            at=now,
            findings=findings,
            brightness=found.brightness,
            sharpness=found.sharpness,
            colour_cast=found.colour_cast,
            covered_share=found.covered_share,
            frozen_s=self.settings.probe_s if "frozen" in found.findings else None,
            moved_px=found.moved_px,
            reference_match=found.reference_match,
            reference_at=reference_at,
            snapshot_jpeg=snapshot_jpeg(frame.y, frame.u, frame.v, self.settings.snapshot_width, MAX_SNAPSHOT_BYTES),
        )

    # -- the scheduled runs --------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="live-diagnosis", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _loop(self) -> None:
        try:
            # This thread only: Linux keeps a niceness per thread, so the recorder keeps its priority.
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self.settings.niceness)
        except (OSError, AttributeError) as exc:
            log.info("live diagnosis runs at normal priority: %s", exc)
        # The first look waits for the cameras to connect; then one round per interval.
        while not self._stop.wait(
            min(self.settings.interval_s, 30.0) if not self._results else self.settings.interval_s
        ):
            self.run()
