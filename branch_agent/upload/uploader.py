"""Sends completed clips to the archive through center-issued presigned URLs, resuming after any fault.

Resumption needs no local state beyond the clip's upload_state: the center keeps the multipart upload
id (the branch holds no storage credentials, so it could not use the id itself), and registering the
same signed manifest again answers which parts the store already holds, so after a crash or reboot
only the missing parts are sent. Before the first byte goes out the spool file is hashed against its
manifest, so an altered evidence file is never uploaded; each part then carries its SHA-256, and the
center re-hashes the assembled object before it says *verified*.

One run at a time: `run_once` holds the branch's upload lock (`run_lock`), so the schedule, the admin's
"upload now" and the CLI can never send at once; a second caller gets UploadAlreadyRunning at once.

A clip becomes *verified* here only with the center's signed answer, which is kept with it as its
receipt (`verification_receipt`); the spool purge deletes nothing without one. Clips verified before
receipts were kept are asked about again at the end of a run, and get theirs.

Faults and what they leave behind:
- center or storage unreachable, or a reply the center did not sign: the clip stays queued with the
  error recorded; the batch stops.
- a part refused as not matching its SHA-256: read again from disk and resent (bounded).
- the spool file no longer matches its manifest: quarantined locally, alert logged, nothing sent.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import requests
from requests.adapters import HTTPAdapter
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from branch_agent.center_link.client import CenterClient, CenterRefused, CenterUnavailable
from branch_agent.db.models import PENDING, QUARANTINED, UPLOADED, UPLOADING, VERIFIED, Clip, UploadTransition
from branch_agent.spool.clip_manifest import audit_local
from branch_agent.spool.verification_receipt import confirms_verified
from branch_agent.upload.parts import (
    ClipDigest,
    EvidenceAltered,
    PartRejected,
    PartSender,
    RateLimiter,
    SendReport,
    ThrottledBody,
    UploadSuperseded,
    hash_clip,
    read_part,
)
from branch_agent.upload.run_lock import RunLock, UploadAlreadyRunning
from storage.contract.reply_signing import ReplyReceipt
from storage.contract.uploads import PartChecksum, UploadOutcome, UploadPlan
from storage.database import utcnow

__all__ = [
    "EvidenceAltered",
    "PartRejected",
    "RateLimiter",
    "ThrottledBody",
    "UploadAlreadyRunning",
    "UploadResult",
    "Uploader",
]

log = logging.getLogger(__name__)
PRESIGN_BATCH = 64
# Concurrent part uploads: enough to keep a WAN link busy across request round trips, few enough
# for a two-core branch host that may be recording at the same time.
PART_WORKERS = 4
# Registrations of one clip in one run when the store keeps closing its multipart upload under us.
MAX_PLANS = 3
# Beyond this the branch clock is worth an operator's attention (signing already corrects for it).
CLOCK_WARN_S = 30.0
# Clips verified without a kept receipt (before receipts were kept) asked about again per run.
RECONFIRM_BATCH = 200


@dataclass(frozen=True)
class UploadResult:
    clip_id: str
    state: str
    parts_sent: int
    bytes_sent: int
    detail: str = ""


class Uploader:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        client: CenterClient,
        bandwidth_mbit: float = 0.0,
        part_workers: int = PART_WORKERS,
        read: Callable[[Path, int, int], bytes] = read_part,
        pace: Callable[[float], RateLimiter] = RateLimiter,
        lock_path: Path | None = None,
    ) -> None:
        """read: how a part's bytes come off the spool disk; pace: the bandwidth cap for one clip (Mbit/s).
        Both are seams for tests: a flaky disk, a cap measured on a fake clock.

        lock_path: a file that keeps runs of other processes (the CLI beside the agent) out as well.
        """
        self.sessions = sessions
        self.client = client
        self.bandwidth_mbit = bandwidth_mbit
        self.part_workers = part_workers
        self._read = read
        self._pace = pace
        self._run_lock = RunLock(lock_path)
        self._http = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=max(part_workers, 1))
        self._http.mount("http://", adapter)
        self._http.mount("https://", adapter)

    # -- queue and batch ------------------------------------------------------------------------

    def queue(self) -> list[str]:
        with self.sessions() as db:
            rows = db.execute(
                select(Clip.clip_id)
                .where(Clip.upload_state.in_((PENDING, UPLOADING, UPLOADED)))
                .order_by(Clip.started_at)
            ).scalars()
            return list(rows)

    @property
    def running(self) -> bool:
        """An upload run of this agent is going on now."""
        return self._run_lock.held

    def run_once(self) -> list[UploadResult]:
        """Uploads everything queued; stops at the first sign the center or storage is down.

        Raises UploadAlreadyRunning, without waiting, when another run holds the branch's upload lock.
        """
        with self._run_lock.hold():
            return self._run_queue()

    def _run_queue(self) -> list[UploadResult]:
        results = []
        paused = False
        for clip_id in self.queue():
            try:
                results.append(self.upload(clip_id))
            except CenterUnavailable as exc:
                # Not the clip's fault: keep it (and every later clip) queued for the next run or window.
                self._note_error(clip_id, str(exc))
                log.warning("upload paused, %s", exc)
                paused = True
                break
            except EvidenceAltered as exc:
                results.append(self._quarantine_altered(clip_id, str(exc)))
            except (CenterRefused, PartRejected, OSError) as exc:
                self._note_error(clip_id, str(exc))
                log.error("upload of %s failed, stays queued: %s", clip_id, exc)
                results.append(UploadResult(clip_id, "failed", 0, 0, str(exc)))
        if not paused:
            self.reconfirm_verified()
        offset = self.client.clock_offset_s
        if abs(offset) > CLOCK_WARN_S:
            log.warning("branch clock is %+.0f s off the center's; requests are signed with the center's time", -offset)
        return results

    # -- one clip -------------------------------------------------------------------------------

    def upload(self, clip_id: str) -> UploadResult:
        """One clip, outside the run lock: safe beside another sender, which the center reconciles."""
        with self.sessions() as db:
            clip = self._clip(db, clip_id)
            if clip.manifest_path is None:
                raise PartRejected(f"clip {clip_id} has no manifest yet")
            manifest = json.loads(Path(clip.manifest_path).read_text(encoding="utf-8"))
            media = Path(clip.media_path)

        report = SendReport()
        for attempt in range(1, MAX_PLANS + 1):
            plan = self.client.register_upload(manifest)
            if plan.state != "uploading":
                break
            try:
                self._upload_parts(clip_id, plan, manifest, media, report)
                break
            except UploadSuperseded as exc:
                # Another sender finished (or the store dropped) this upload while we were sending:
                # the center's next plan says what is stored now, and nothing already sent is sent twice.
                if attempt == MAX_PLANS:
                    raise PartRejected(f"clip {clip_id}: the archive kept closing its upload ({exc})") from exc
                log.info("clip %s: %s; asking the center for a new plan", clip_id, exc)
        # Also for a clip the center already holds: its answer carries retain-until, and a clip
        # assembled before a crash is verified now.
        outcome, receipt = self.client.complete_with_receipt(clip_id) if plan.state != "quarantined" else (None, None)
        return self._settle(clip_id, plan, outcome, report, receipt)

    def reconfirm_verified(self, limit: int = RECONFIRM_BATCH) -> int:
        """Clips verified without a receipt get the center's signed answer again; returns how many."""
        with self.sessions() as db:
            ids = list(
                db.execute(
                    select(Clip.clip_id)
                    .where(Clip.upload_state == VERIFIED, Clip.verification_receipt.is_(None))
                    .order_by(Clip.started_at)
                    .limit(limit)
                ).scalars()
            )
        confirmed = 0
        for clip_id in ids:
            try:
                outcome, receipt = self.client.complete_with_receipt(clip_id)
            except CenterRefused as exc:
                log.warning("clip %s: the center did not confirm its verification again: %s", clip_id, exc)
                continue
            except CenterUnavailable as exc:
                log.warning("confirming verified clips paused, %s", exc)
                break
            if outcome.state == "verified" and confirms_verified(receipt.to_json(), clip_id):
                with self.sessions() as db:
                    self._clip(db, clip_id).verification_receipt = receipt.to_json()
                    db.commit()
                confirmed += 1
        return confirmed

    def _upload_parts(
        self, clip_id: str, plan: UploadPlan, manifest: dict[str, object], media: Path, report: SendReport
    ) -> None:
        stored = set(plan.stored_parts)
        missing = [n for n in range(1, plan.part_count + 1) if n not in stored]
        with self.sessions() as db:
            clip = self._clip(db, clip_id)
            what = f"{len(stored)} of {plan.part_count} parts already in the archive"
            self._transition(
                db, clip, UPLOADING, ("resumed: " if clip.upload_state != PENDING else "registered: ") + what
            )
            db.commit()
        if missing:
            digest = hash_clip(media, plan.part_size, set(missing))
            _check_against_manifest(media, digest, manifest)
            sender = PartSender(
                media,
                plan.part_size,
                digest.sha256_hex,
                self._pace(self.bandwidth_mbit),
                self.part_workers,
                self._http,
                self._read,
            )
            for i in range(0, len(missing), PRESIGN_BATCH):
                batch = missing[i : i + PRESIGN_BATCH]
                checks = [PartChecksum(part_number=n, sha256_b64=digest.part_sha256_b64[n]) for n in batch]
                presigned = self.client.presign(clip_id, checks)
                sender.send(presigned.parts, digest.part_sha256_b64, report)
        with self.sessions() as db:
            clip = self._clip(db, clip_id)
            detail = f"{report.parts_sent} parts sent ({len(stored)} already stored)"
            if report.resent:
                detail += "; read again and resent: " + ", ".join(report.resent)
            self._transition(db, clip, UPLOADED, detail)
            db.commit()

    def _settle(
        self,
        clip_id: str,
        plan: UploadPlan,
        outcome: UploadOutcome | None,
        report: SendReport,
        receipt: ReplyReceipt | None = None,
    ) -> UploadResult:
        state = outcome.state if outcome is not None else plan.state
        reason = outcome.reason if outcome is not None else plan.reason
        with self.sessions() as db:
            clip = self._clip(db, clip_id)
            if state == "verified":
                retain_until = outcome.retain_until if outcome is not None else None
                self._transition(db, clip, VERIFIED, f"retain until {retain_until}")
                clip.verified_at = utcnow()
                clip.retain_until = retain_until
                clip.upload_error = ""
                # The center's signed word, kept with the clip: without it the spool purge leaves the clip alone.
                clip.verification_receipt = receipt.to_json() if receipt is not None else None
            elif state == "quarantined":
                # Never deleted locally: the branch copy is the evidence until someone resolves it.
                self._transition(db, clip, QUARANTINED, reason)
                clip.upload_error = reason
                log.error("ALERT clip %s quarantined by the center: %s", clip_id, reason)
            db.commit()
        return UploadResult(clip_id, state, report.parts_sent, report.bytes_sent, reason)

    def _quarantine_altered(self, clip_id: str, message: str) -> UploadResult:
        reason = f"evidence file altered on the branch, not uploaded: {message}"
        with self.sessions() as db:
            clip = self._clip(db, clip_id)
            self._transition(db, clip, QUARANTINED, reason)
            clip.upload_error = reason[:2000]
            clip.upload_attempts += 1
            audit_local(db, "uploader", "upload.evidence_altered", clip_id, {"reason": message})
            db.commit()
        log.error("ALERT clip %s: %s", clip_id, reason)
        return UploadResult(clip_id, QUARANTINED, 0, 0, reason)

    # -- records --------------------------------------------------------------------------------

    @staticmethod
    def _clip(db: Session, clip_id: str) -> Clip:
        return db.execute(select(Clip).where(Clip.clip_id == clip_id)).scalar_one()

    def _transition(self, db: Session, clip: Clip, to_state: str, detail: str = "") -> None:
        db.add(
            UploadTransition(
                clip_id=clip.clip_id, from_state=clip.upload_state, to_state=to_state, detail=detail[:4000]
            )
        )
        log.info("clip %s upload %s -> %s %s", clip.clip_id, clip.upload_state, to_state, detail)
        clip.upload_state = to_state

    def _note_error(self, clip_id: str, message: str) -> None:
        with self.sessions() as db:
            clip = self._clip(db, clip_id)
            clip.upload_error = message[:2000]
            clip.upload_attempts += 1
            db.commit()


def _check_against_manifest(media: Path, digest: ClipDigest, manifest: dict[str, object]) -> None:
    signed = manifest.get("media")
    if not isinstance(signed, dict):
        raise PartRejected(f"manifest of {media.name} has no media section")
    if digest.size != signed.get("size") or digest.sha256_hex != signed.get("sha256"):
        raise EvidenceAltered(
            f"{media} is {digest.size} bytes with SHA-256 {digest.sha256_hex}; "
            f"its signed manifest says {signed.get('size')} bytes with SHA-256 {signed.get('sha256')}"
        )
