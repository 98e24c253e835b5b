"""The byte side of an upload: hash the clip against its manifest, send parts concurrently under a bandwidth cap.

A part is always read from the spool file just before it is sent, never kept from the hashing pass,
so memory stays at (workers x part size) whatever the clip's length. The store checks each part
against the SHA-256 signed into its URL; a refused part is read again and resent, and a part whose
bytes on disk no longer hash to what was signed means the evidence file changed under us.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import requests

from branch_agent.center_link.client import CenterUnavailable
from storage.contract.uploads import PresignedPartUrl

log = logging.getLogger(__name__)
READ_BLOCK = 4 * 1024 * 1024
# How often one part is sent again after the store found its bytes differ from the signed SHA-256.
MAX_PART_ATTEMPTS = 3
# S3 error codes for "the body does not match the checksum you signed".
DIGEST_ERRORS = ("BadDigest", "InvalidDigest", "XAmzContentChecksumMismatch", "XAmzContentSHA256Mismatch")


class PartRejected(RuntimeError):
    """The store refused a part for a reason other than being down; the clip stays queued."""


class UploadSuperseded(RuntimeError):
    """The multipart upload is gone from the store: another sender completed it, or it was aborted. Ask the center again."""


class EvidenceAltered(RuntimeError):
    """The spool file no longer hashes to its signed manifest: it must not be uploaded as if it were the evidence."""


class RateLimiter:
    """Paces bytes to a Mbit/s cap shared by every sending thread, so a night upload does not starve the branch WAN.

    Pacing, not a bucket that refills while idle: a pause (waiting for the center) does not earn a burst later.
    """

    def __init__(
        self,
        mbit_per_s: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.bytes_per_s = mbit_per_s * 1_000_000 / 8 if mbit_per_s > 0 else 0.0
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._free_at = 0.0  # when the line is free for the next byte

    def take(self, n: int) -> None:
        if not self.bytes_per_s or n <= 0:
            return
        with self._lock:
            now = self._clock()
            start = max(now, self._free_at)
            self._free_at = start + n / self.bytes_per_s
            wait_s = self._free_at - now
        if wait_s > 0:
            self._sleep(wait_s)


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


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


@dataclass(frozen=True)
class ClipDigest:
    sha256_hex: str
    size: int
    part_sha256_b64: dict[int, str]


def read_part(media: Path, part_number: int, part_size: int) -> bytes:
    with open(media, "rb") as fh:
        fh.seek((part_number - 1) * part_size)
        return fh.read(part_size)


def hash_clip(media: Path, part_size: int, wanted_parts: set[int]) -> ClipDigest:
    """One pass over the file: the whole file's SHA-256 (to compare with the manifest) and each wanted part's."""
    whole = hashlib.sha256()
    parts: dict[int, str] = {}
    size = 0
    number = 1
    with open(media, "rb") as fh:
        while True:
            part = hashlib.sha256() if number in wanted_parts else None
            left = part_size
            while left:
                block = fh.read(min(READ_BLOCK, left))
                if not block:
                    break
                whole.update(block)
                if part is not None:
                    part.update(block)
                left -= len(block)
                size += len(block)
            if left == part_size:  # nothing read: end of file
                break
            if part is not None:
                parts[number] = base64.b64encode(part.digest()).decode("ascii")
            if left:
                break
            number += 1
    if size == 0 and 1 in wanted_parts:
        parts[1] = sha256_b64(b"")  # an empty file is still one (empty) part
    return ClipDigest(whole.hexdigest(), size, parts)


@dataclass
class SendReport:
    parts_sent: int = 0
    bytes_sent: int = 0
    resent: list[str] = field(default_factory=list)  # "part 3: BadDigest", for the transition log


@dataclass
class PartSender:
    """Sends presigned parts with a few threads; the first failure stops parts not yet started."""

    media: Path
    part_size: int
    # What the signed manifest says the whole file is: the reference when a part reads back differently.
    manifest_sha256_hex: str
    limiter: RateLimiter
    workers: int
    http: requests.Session
    read: Callable[[Path, int, int], bytes] = read_part
    timeout_s: float = 300.0

    def send(self, parts: list[PresignedPartUrl], signed: dict[int, str], report: SendReport) -> None:
        stop = threading.Event()
        lock = threading.Lock()

        def one(part: PresignedPartUrl) -> None:
            if stop.is_set():
                return
            size, resent = self._send_part(part, signed[part.part_number])
            with lock:
                report.parts_sent += 1
                report.bytes_sent += size
                report.resent.extend(resent)

        with ThreadPoolExecutor(max_workers=max(1, self.workers), thread_name_prefix="upload-part") as pool:
            futures: list[Future[None]] = [pool.submit(one, p) for p in parts]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            failed = next((f for f in done if f.exception() is not None), None)
            if failed is not None:
                stop.set()
                for f in futures:
                    f.cancel()
                wait(futures)
                raise failed.exception()  # type: ignore[misc]

    def _send_part(self, part: PresignedPartUrl, signed_b64: str) -> tuple[int, list[str]]:
        n = part.part_number
        problems: list[str] = []
        for attempt in range(1, MAX_PART_ATTEMPTS + 1):
            data = self.read(self.media, n, self.part_size)
            # Hashed again only on a retry: the first send is checked by the store against the signed SHA-256.
            if attempt > 1 and sha256_b64(data) != signed_b64:
                self._check_file_still_matches_manifest(n)
                problems.append(f"part {n}: read back differently from disk")
                log.warning(
                    "part %d of %s read back differently from disk, the file still matches its manifest; "
                    "reading again (attempt %d of %d)",
                    n,
                    self.media.name,
                    attempt,
                    MAX_PART_ATTEMPTS,
                )
                continue
            code = self._put(part, data)
            if code is None:
                return len(data), problems
            problems.append(f"part {n}: {code}")
            log.warning(
                "store refused part %d of %s (%s); reading it again from disk (attempt %d of %d)",
                n,
                self.media.name,
                code,
                attempt,
                MAX_PART_ATTEMPTS,
            )
        raise PartRejected(
            f"archive storage did not accept part {n} after {MAX_PART_ATTEMPTS} attempts although the evidence "
            f"file still matches its manifest: {', '.join(problems)}"
        )

    def _check_file_still_matches_manifest(self, part_number: int) -> None:
        now = hash_clip(self.media, self.part_size, set())
        if now.sha256_hex != self.manifest_sha256_hex:
            raise EvidenceAltered(
                f"part {part_number} of {self.media.name} changed on disk during the upload: the file's SHA-256 "
                f"is now {now.sha256_hex}, its signed manifest says {self.manifest_sha256_hex}"
            )

    def _put(self, part: PresignedPartUrl, data: bytes) -> str | None:
        """None when stored; the S3 error code when the body did not match its signed checksum."""
        body: bytes | ThrottledBody = ThrottledBody(data, self.limiter) if self.limiter.bytes_per_s else data
        try:
            resp = self.http.put(part.url, data=body, headers=part.headers, timeout=self.timeout_s)
        except requests.RequestException as exc:
            raise CenterUnavailable(f"archive storage unreachable: {exc}") from exc
        if resp.status_code == 200:
            return None
        if resp.status_code >= 500:
            raise CenterUnavailable(f"archive storage answered {resp.status_code}: {resp.text[:200]}")
        code = _s3_error_code(resp.text)
        if code in DIGEST_ERRORS:
            return code
        if code == "NoSuchUpload":
            raise UploadSuperseded(f"part {part.part_number}: the multipart upload is no longer open in the archive")
        raise PartRejected(
            f"archive storage refused part {part.part_number} ({resp.status_code} {code}): {resp.text[:300]}"
        )


def _s3_error_code(body: str) -> str:
    start = body.find("<Code>")
    end = body.find("</Code>", start)
    return body[start + 6 : end] if start >= 0 and end > start else "unknown"
