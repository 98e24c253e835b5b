"""The media analysis of archived clips, and the quality report it leaves as the clip's record.

The ingest check list judges at once what a manifest tells (``ingest.clip_findings``); judging the
picture and sound takes minutes of a core per clip, so it runs here, after the clip is archived and
locked: every archived clip without a report is waiting for it. One runner at a time (a lease in
``job_locks``) reads the clip's catalogued version from the store into a private temporary file,
checks its bytes against the catalogue, and analyses it in a low-priority child process with the
product's policy. The report, its verdict, one ``quality_findings`` row per finding and an audit line
are written in one transaction.

An analysis that fails (the store unreadable, the analyser crashing or running out of time) writes
no verdict: the clip stays unchecked, the failure is logged as an alert and tried again later, at
most ``max_attempts`` times. The attempt is counted before the analysis starts, so a center that
dies during one does not try the same clip for ever.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session, sessionmaker

from center_platform.audit import trail as audit
from center_platform.config import CenterConfig, QualitySection
from center_platform.db import job_lock
from center_platform.db.models import Product, Recording, utcnow
from center_platform.db.quality_models import QualityAttempt, QualityFinding
from center_platform.ingest.clip_findings import consent_findings, product_policy
from storage.manifest import ClipManifest
from storage.object_store import ObjectStore
from storage.private_files import private_dir
from storage.quality.policy import ManifestFacts, QualityPolicy
from storage.quality.report import QualityReport
from storage.quality.runner import run_quality_check

log = logging.getLogger(__name__)

JOB = "clip-quality"
ACTOR = "center"

# What analyses one clip: (clip file, policy, facts) -> report. The runner's child process by default.
Analyser = Callable[[Path, QualityPolicy, ManifestFacts], QualityReport]


class ClipNotFound(LookupError):
    pass


@dataclass
class QualityRun:
    checked: dict[str, str] = field(default_factory=dict)  # clip id -> verdict
    failed: dict[str, str] = field(default_factory=dict)  # clip id -> why
    busy: bool = False  # another center was running the job


@dataclass(frozen=True)
class _Clip:
    recording_id: int
    clip_id: str
    object_key: str
    version_id: str
    sha256: str
    manifest: ClipManifest
    policy: QualityPolicy


def quality_work_dir(config: CenterConfig) -> Path:
    """Where clips are copied for their analysis: inside the center's private data directory."""
    return config.server.data_dir / "quality-work"


def child_process_analyser(cfg: QualitySection) -> Analyser:
    def analyse(path: Path, policy: QualityPolicy, facts: ManifestFacts) -> QualityReport:
        return run_quality_check(path, policy, facts, niceness=cfg.niceness, timeout_s=cfg.timeout_minutes * 60)

    return analyse


def run_quality_checks(
    sessions: sessionmaker[Session],
    store: ObjectStore,
    cfg: QualitySection,
    work_dir: Path,
    *,
    clip_id: str | None = None,
    analyser: Analyser | None = None,
) -> QualityRun:
    """Analyse up to ``max_clips_per_run`` archived clips without a report (or ``clip_id``, again
    if it has one already)."""
    analyse = analyser or child_process_analyser(cfg)
    holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
    lease = timedelta(minutes=cfg.timeout_minutes + 10)
    run = QualityRun()
    if not job_lock.acquire(sessions, JOB, holder, lease):
        run.busy = True
        return run
    try:
        ids = [_recording_id(sessions, clip_id)] if clip_id else _waiting(sessions, cfg)
        for recording_id in ids:
            if not job_lock.renew(sessions, JOB, holder, lease):
                log.error("ALERT quality check lost its lease; another center carries on")
                break
            _check_one(sessions, store, cfg, work_dir, recording_id, analyse, run)
    finally:
        job_lock.release(sessions, JOB, holder)
    return run


def _recording_id(sessions: sessionmaker[Session], clip_id: str) -> int:
    with sessions() as db:
        found = db.execute(
            select(Recording.id).where(Recording.clip_id == clip_id, Recording.state == "archived")
        ).scalar_one_or_none()
    if found is None:
        raise ClipNotFound(f"no archived clip {clip_id}")
    return found


def _waiting(sessions: sessionmaker[Session], cfg: QualitySection) -> list[int]:
    """Archived clips without a report whose analysis has not failed too often, the oldest first."""
    retry_before = utcnow() - timedelta(minutes=cfg.retry_after_minutes)
    with sessions() as db:
        return list(
            db.execute(
                select(Recording.id)
                .outerjoin(QualityAttempt, QualityAttempt.recording_id == Recording.id)
                .where(
                    Recording.state == "archived",
                    Recording.quality_report_json.is_(None),
                    or_(
                        QualityAttempt.recording_id.is_(None),
                        (QualityAttempt.attempts < cfg.max_attempts) & (QualityAttempt.last_attempt_at <= retry_before),
                    ),
                )
                .order_by(Recording.id)
                .limit(cfg.max_clips_per_run)
            ).scalars()
        )


def _begin(sessions: sessionmaker[Session], recording_id: int) -> tuple[_Clip, int]:
    """The clip to analyse, with the attempt counted (and committed) before the work starts."""
    with sessions() as db:
        rec = db.get(Recording, recording_id)
        assert rec is not None
        product = db.get(Product, rec.product_id)
        clip = _Clip(
            recording_id=rec.id,
            clip_id=rec.clip_id,
            object_key=rec.object_key,
            version_id=rec.version_id,
            sha256=rec.sha256,
            manifest=ClipManifest.parse(rec.manifest_json),
            policy=product_policy(product),
        )
        attempt = db.get(QualityAttempt, recording_id)
        if attempt is None:
            attempt = QualityAttempt(recording_id=recording_id, attempts=0, last_error="")
            db.add(attempt)
        attempt.attempts += 1
        attempt.last_attempt_at = utcnow()
        number = attempt.attempts
        db.commit()
    return clip, number


def _check_one(
    sessions: sessionmaker[Session],
    store: ObjectStore,
    cfg: QualitySection,
    work_dir: Path,
    recording_id: int,
    analyse: Analyser,
    run: QualityRun,
) -> None:
    clip, attempt = _begin(sessions, recording_id)
    try:
        report = _analyse(store, work_dir, clip, analyse)
    except Exception as exc:  # any failure leaves the clip unchecked: never a verdict without a report
        why = f"{type(exc).__name__}: {exc}"
        run.failed[clip.clip_id] = why
        _failed(sessions, cfg, clip, attempt, why)
        return
    with sessions() as db:
        rec = db.get(Recording, recording_id)
        if rec is None or rec.state != "archived":
            return  # expired or found missing during the analysis: nothing left to judge
        _record(db, rec, report)
        db.commit()
    run.checked[clip.clip_id] = report.verdict
    log.info("clip %s quality %s (%d findings)", clip.clip_id, report.verdict, len(report.findings))


def _analyse(store: ObjectStore, work_dir: Path, clip: _Clip, analyse: Analyser) -> QualityReport:
    directory = private_dir(work_dir)
    fd, name = tempfile.mkstemp(prefix=f"quality-{clip.clip_id}-", suffix=".mp4", dir=directory)
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as fh:

            def write(block: bytes) -> None:
                fh.write(block)

            digest, _ = store.sha256_hex(clip.object_key, clip.version_id, observe=write)
        if digest != clip.sha256:
            raise ValueError(f"stored bytes hash to {digest}, the catalogue says {clip.sha256}")
        report = analyse(path, clip.policy, ManifestFacts.from_manifest(clip.manifest))
    finally:
        path.unlink(missing_ok=True)
    return with_center_findings(report, clip.manifest)


def with_center_findings(report: QualityReport, manifest: ClipManifest) -> QualityReport:
    """The analyser's report with what only the center judges (consent), and the verdict over all."""
    extra = [f for f in consent_findings(manifest) if f.code not in report.codes()]
    if not extra:
        return report
    findings = sorted([*report.findings, *extra], key=lambda f: (f.start_s, f.code, f.subject))
    verdict = "fail" if any(f.severity == "fail" for f in findings) else "pass"
    return report.model_copy(update={"findings": findings, "verdict": verdict})


def _record(db: Session, rec: Recording, report: QualityReport) -> None:
    rec.quality_report_json = report.model_dump_json()
    rec.quality_verdict = report.verdict
    db.execute(delete(QualityFinding).where(QualityFinding.recording_id == rec.id))
    db.add_all(QualityFinding.of(rec.id, f) for f in report.findings)
    db.execute(delete(QualityAttempt).where(QualityAttempt.recording_id == rec.id))
    audit.append(
        db,
        ACTOR,
        "quality.checked",
        rec.clip_id,
        {
            "verdict": report.verdict,
            "findings": [
                {"code": f.code, "severity": f.severity, "start_s": f.start_s, "end_s": f.end_s}
                for f in report.findings
            ],
            "analyser": report.analyser_version,
            "cost": report.cost.model_dump(),
        },
    )


def _failed(sessions: sessionmaker[Session], cfg: QualitySection, clip: _Clip, attempt: int, why: str) -> None:
    final = attempt >= cfg.max_attempts
    with sessions() as db:
        row = db.get(QualityAttempt, clip.recording_id)
        if row is not None:
            row.last_error = why[:2000]
        audit.append(
            db,
            ACTOR,
            "quality.failed",
            clip.clip_id,
            {"attempt": attempt, "max_attempts": cfg.max_attempts, "error": why[:2000], "gave_up": final},
        )
        db.commit()
    if final:
        log.error("ALERT quality check of clip %s failed %d times, left unchecked: %s", clip.clip_id, attempt, why)
    else:
        log.error(
            "ALERT quality check of clip %s failed (attempt %d, tried again later): %s", clip.clip_id, attempt, why
        )
