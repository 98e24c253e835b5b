"""Sends completed clips to the archive through center-issued presigned URLs, resuming after any fault.

Resumption needs no local state beyond the clip's upload_state: registering the same signed manifest
again is idempotent at the center and answers which parts the store already holds, so after a crash
or reboot only the missing parts are sent. Each part carries its SHA-256; the store rejects a part
whose bytes differ, and the center re-hashes the assembled object before it says *verified*.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import requests
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from branch_agent.center_client import CenterClient, CenterRefused, CenterUnavailable
from branch_agent.db.models import PENDING, QUARANTINED, UPLOADED, UPLOADING, VERIFIED, Clip, UploadTransition
from center_platform.contract.uploads import PartChecksum
from storage.database import utcnow

log = logging.getLogger(__name__)
PRESIGN_BATCH = 64


@dataclass(frozen=True)
class UploadResult:
    clip_id: str
    state: str
    parts_sent: int
    bytes_sent: int
    detail: str = ""


class PartRejected(RuntimeError):
    pass


class RateLimiter:
    """Caps throughput to the configured Mbit/s so a night upload does not starve the branch WAN."""

    def __init__(self, mbit_per_s: float) -> None:
        self.bytes_per_s = mbit_per_s * 1_000_000 / 8 if mbit_per_s > 0 else 0.0
        self._start = time.monotonic()
        self._sent = 0

    def take(self, n: int) -> None:
        if not self.bytes_per_s:
            return
        self._sent += n
        ahead = self._sent / self.bytes_per_s - (time.monotonic() - self._start)
        if ahead > 0:
            time.sleep(ahead)


def _part_bytes(path: Path, part_number: int, part_size: int) -> bytes:
    with open(path, "rb") as fh:
        fh.seek((part_number - 1) * part_size)
        return fh.read(part_size)


class ThrottledBody:
    """A part body with a known length (so the store gets Content-Length, not chunked encoding) read at a capped rate."""

    def __init__(self, data: bytes, limiter: RateLimiter) -> None:
        self._data = memoryview(data)
        self._pos = 0
        self._limiter = limiter

    def __len__(self) -> int:
        return len(self._data)

    def read(self, n: int = -1) -> bytes:
        end = len(self._data) if n is None or n < 0 else min(len(self._data), self._pos + n)
        block = bytes(self._data[self._pos : end])
        self._pos = end
        self._limiter.take(len(block))
        return block


class Uploader:
    def __init__(
        self, sessions: sessionmaker[Session], client: CenterClient, bandwidth_mbit: float = 0.0
    ) -> None:
        self.sessions = sessions
        self.client = client
        self.bandwidth_mbit = bandwidth_mbit
        self._http = requests.Session()

    def _transition(self, db: Session, clip: Clip, to_state: str, detail: str = "") -> None:
        db.add(UploadTransition(clip_id=clip.clip_id, from_state=clip.upload_state, to_state=to_state, detail=detail))
        clip.upload_state = to_state

    def queue(self) -> list[str]:
        with self.sessions() as db:
            rows = db.execute(
                select(Clip.clip_id).where(Clip.upload_state.in_((PENDING, UPLOADING, UPLOADED))).order_by(Clip.started_at)
            ).scalars()
            return list(rows)

    def run_once(self) -> list[UploadResult]:
        """Uploads everything queued; stops at the first sign the center or storage is down."""
        results = []
        for clip_id in self.queue():
            try:
                results.append(self.upload(clip_id))
            except CenterUnavailable as exc:
                self._note_error(clip_id, str(exc))
                log.warning("upload paused, center unavailable: %s", exc)
                break
            except (CenterRefused, PartRejected, OSError) as exc:
                self._note_error(clip_id, str(exc))
                log.error("upload of %s failed: %s", clip_id, exc)
                results.append(UploadResult(clip_id, "failed", 0, 0, str(exc)))
        return results

    def _note_error(self, clip_id: str, message: str) -> None:
        with self.sessions() as db:
            clip = db.execute(select(Clip).where(Clip.clip_id == clip_id)).scalar_one()
            clip.upload_error = message[:2000]
            clip.upload_attempts += 1
            db.commit()

    def upload(self, clip_id: str) -> UploadResult:
        with self.sessions() as db:
            clip = db.execute(select(Clip).where(Clip.clip_id == clip_id)).scalar_one()
            if clip.manifest_path is None:
                raise PartRejected(f"clip {clip_id} has no manifest yet")
            manifest = json.loads(Path(clip.manifest_path).read_text(encoding="utf-8"))
            media = Path(clip.media_path)
            if clip.upload_state == PENDING:
                self._transition(db, clip, UPLOADING)
                db.commit()

        plan = self.client.register_upload(manifest)
        parts_sent = bytes_sent = 0
        if plan.state == "uploading":
            missing = [n for n in range(1, plan.part_count + 1) if n not in set(plan.stored_parts)]
            limiter = RateLimiter(self.bandwidth_mbit)
            for i in range(0, len(missing), PRESIGN_BATCH):
                batch = missing[i : i + PRESIGN_BATCH]
                bodies = {n: _part_bytes(media, n, plan.part_size) for n in batch}
                checks = [
                    PartChecksum(part_number=n, sha256_b64=base64.b64encode(hashlib.sha256(bodies[n]).digest()).decode())
                    for n in batch
                ]
                presigned = self.client.presign(clip_id, checks)
                for part in presigned.parts:
                    data = bodies[part.part_number]
                    self._put(part.url, part.headers, data, limiter)
                    parts_sent += 1
                    bytes_sent += len(data)
            with self.sessions() as db:
                clip = db.execute(select(Clip).where(Clip.clip_id == clip_id)).scalar_one()
                if clip.upload_state != UPLOADED:
                    self._transition(db, clip, UPLOADED, f"{parts_sent} parts sent")
                db.commit()
        outcome = self.client.complete(clip_id) if plan.state == "uploading" else plan
        with self.sessions() as db:
            clip = db.execute(select(Clip).where(Clip.clip_id == clip_id)).scalar_one()
            if outcome.state == "verified":
                self._transition(db, clip, VERIFIED, getattr(outcome, "retain_until", "") or "")
                clip.verified_at = utcnow()
                clip.retain_until = getattr(outcome, "retain_until", None)
                clip.upload_error = ""
            elif outcome.state == "quarantined":
                # Never deleted locally: the branch copy is the evidence until someone resolves it.
                self._transition(db, clip, QUARANTINED, outcome.reason)
                clip.upload_error = outcome.reason
            db.commit()
        return UploadResult(clip_id, outcome.state, parts_sent, bytes_sent, outcome.reason)

    def _put(self, url: str, headers: dict[str, str], data: bytes, limiter: RateLimiter) -> None:
        body: bytes | ThrottledBody = ThrottledBody(data, limiter) if limiter.bytes_per_s else data
        try:
            resp = self._http.put(url, data=body, headers=headers, timeout=300)
        except requests.RequestException as exc:
            raise CenterUnavailable(f"archive storage unreachable: {exc}") from exc
        if resp.status_code >= 500:
            raise CenterUnavailable(f"archive storage answered {resp.status_code}")
        if resp.status_code != 200:
            raise PartRejected(f"archive storage refused a part ({resp.status_code}): {resp.text[:300]}")
