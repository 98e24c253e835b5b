"""S3 client for the evidence archive: presigned multipart upload, Object Lock, ranged reads.

Works against any S3 that implements Object Lock (SeaweedFS, MinIO, Ceph RGW, AWS). Every request is
SigV4-signed. Only the center holds these credentials; branches get presigned part URLs.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from storage.endpoint import S3Endpoint

MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PARTS = 10_000
DELETE_BATCH = 1000


class StorageError(RuntimeError):
    """The object store refused or failed an operation; the message says which and why."""


class RetentionShorteningRefused(StorageError):
    """Retention only ever moves later."""


@dataclass(frozen=True)
class PresignedPart:
    part_number: int
    url: str
    headers: dict[str, str]


@dataclass(frozen=True)
class StoredPart:
    part_number: int
    etag: str
    size: int
    checksum_sha256: str | None


@dataclass(frozen=True)
class StoredObject:
    key: str
    version_id: str
    etag: str


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    version_id: str | None
    size: int
    lock_mode: str | None
    retain_until: datetime | None
    legal_hold: bool


@dataclass(frozen=True)
class ObjectVersion:
    key: str
    version_id: str


@dataclass(frozen=True)
class DeleteFailure:
    key: str
    version_id: str
    code: str
    message: str


@dataclass(frozen=True)
class DeleteReport:
    deleted: list[ObjectVersion]
    failed: list[DeleteFailure]


@dataclass(frozen=True)
class RangeRead:
    body: Iterator[bytes]
    start: int
    end: int  # inclusive
    total_size: int
    close: Callable[[], None] = lambda: None  # gives the connection back when the body is not read to its end


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


def _error_text(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return f"{err.get('Code', 'Error')}: {err.get('Message', str(exc))}"
    return str(exc)


def _object_info(key: str, head: dict[str, Any]) -> ObjectInfo:
    return ObjectInfo(
        key=key,
        version_id=head.get("VersionId"),
        size=int(head["ContentLength"]),
        lock_mode=head.get("ObjectLockMode"),
        retain_until=head.get("ObjectLockRetainUntilDate"),
        legal_hold=head.get("ObjectLockLegalHoldStatus") == "ON",
    )


class ObjectStore:
    def __init__(self, endpoint: S3Endpoint, connect_timeout_s: float = 5.0, read_timeout_s: float = 60.0) -> None:
        self.endpoint = endpoint
        self.bucket = endpoint.bucket
        self._s3 = boto3.client(
            "s3",
            endpoint_url=endpoint.url,
            aws_access_key_id=endpoint.access_key,
            aws_secret_access_key=endpoint.secret_key,
            region_name=endpoint.region,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                connect_timeout=connect_timeout_s,
                read_timeout=read_timeout_s,
                retries={"max_attempts": 3, "mode": "standard"},
                max_pool_connections=32,
            ),
        )

    def _call(self, what: str, fn, **kwargs):  # type: ignore[no-untyped-def]
        try:
            return fn(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(f"{what} failed: {_error_text(exc)}") from exc

    # -- health and bucket ------------------------------------------------------------------------

    def ping(self) -> tuple[bool, str]:
        """(reachable and authorised, reason)."""
        try:
            self._s3.list_buckets()
            return True, "ok"
        except (ClientError, BotoCoreError) as exc:
            return False, _error_text(exc)

    def ensure_evidence_bucket(self, default_lock_days: int = 0) -> None:
        """Creates the bucket with Object Lock, or checks an existing one has Object Lock and versioning.

        With `default_lock_days` every new object version is written under COMPLIANCE retention for that
        long by the store itself: no version is ever unlocked, not between assembly and the archive's own
        retention call, nor when it is quarantined and never catalogued. 0 leaves the bucket's default as is.
        """
        try:
            self._s3.head_bucket(Bucket=self.bucket)
            exists = True
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code not in ("404", "NoSuchBucket", "NotFound"):
                raise StorageError(f"checking bucket {self.bucket} failed: {_error_text(exc)}") from exc
            exists = False
        except BotoCoreError as exc:
            raise StorageError(f"checking bucket {self.bucket} failed: {_error_text(exc)}") from exc
        if not exists:
            self._call("creating bucket", self._s3.create_bucket, Bucket=self.bucket, ObjectLockEnabledForBucket=True)
        versioning = self._call("reading versioning", self._s3.get_bucket_versioning, Bucket=self.bucket)
        if versioning.get("Status") != "Enabled":
            raise StorageError(f"bucket {self.bucket} does not have versioning enabled; evidence needs Object Lock")
        lock = self._call("reading object lock", self._s3.get_object_lock_configuration, Bucket=self.bucket)
        configuration = lock.get("ObjectLockConfiguration", {})
        if configuration.get("ObjectLockEnabled") != "Enabled":
            raise StorageError(f"bucket {self.bucket} does not have Object Lock enabled")
        if default_lock_days < 0:
            raise ValueError("default_lock_days cannot be negative")
        wanted = {"Mode": "COMPLIANCE", "Days": default_lock_days}
        if default_lock_days and configuration.get("Rule", {}).get("DefaultRetention") != wanted:
            self._call(
                "setting default retention",
                self._s3.put_object_lock_configuration,
                Bucket=self.bucket,
                ObjectLockConfiguration={"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": wanted}},
            )

    # -- multipart upload -------------------------------------------------------------------------

    def create_multipart(self, key: str, content_type: str = "video/mp4") -> str:
        # No upload-level checksum algorithm: stores differ in whether ListParts returns part checksums,
        # and completing then needs them. Each part is still checked (its SHA-256 is signed into the
        # presigned URL) and the center re-hashes the whole object before it is accepted.
        resp = self._call(
            "creating multipart upload",
            self._s3.create_multipart_upload,
            Bucket=self.bucket,
            Key=key,
            ContentType=content_type,
        )
        return str(resp["UploadId"])

    def presign_part(
        self, key: str, upload_id: str, part_number: int, checksum_sha256_b64: str, expires_s: int
    ) -> PresignedPart:
        if not 1 <= part_number <= MAX_PARTS:
            raise StorageError(f"part number {part_number} outside 1..{MAX_PARTS}")
        # The checksum is part of the signature: the store rejects a body whose SHA-256 differs.
        url = self._s3.generate_presigned_url(
            "upload_part",
            Params={
                "Bucket": self.bucket,
                "Key": key,
                "UploadId": upload_id,
                "PartNumber": part_number,
                "ChecksumSHA256": checksum_sha256_b64,
            },
            ExpiresIn=expires_s,
        )
        return PresignedPart(part_number, url, {"x-amz-checksum-sha256": checksum_sha256_b64})

    def list_parts(self, key: str, upload_id: str) -> list[StoredPart]:
        parts: list[StoredPart] = []
        marker = 0
        while True:
            resp = self._call(
                "listing parts",
                self._s3.list_parts,
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                PartNumberMarker=marker,
            )
            for p in resp.get("Parts", []):
                parts.append(StoredPart(int(p["PartNumber"]), p["ETag"], int(p["Size"]), p.get("ChecksumSHA256")))
            if not resp.get("IsTruncated"):
                return parts
            marker = int(resp["NextPartNumberMarker"])

    def complete_multipart(self, key: str, upload_id: str, parts: list[StoredPart]) -> StoredObject:
        body = {"Parts": []}  # type: dict[str, list[dict[str, object]]]
        for p in sorted(parts, key=lambda p: p.part_number):
            entry: dict[str, object] = {"PartNumber": p.part_number, "ETag": p.etag}
            if p.checksum_sha256:
                entry["ChecksumSHA256"] = p.checksum_sha256
            body["Parts"].append(entry)
        resp = self._call(
            "completing multipart upload",
            self._s3.complete_multipart_upload,
            Bucket=self.bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload=body,
        )
        version = resp.get("VersionId")
        if not version:
            raise StorageError(f"store completed {key} without a version id: versioning is not in force")
        return StoredObject(key=key, version_id=str(version), etag=str(resp.get("ETag", "")))

    def abort_multipart(self, key: str, upload_id: str) -> None:
        self._call(
            "aborting multipart upload",
            self._s3.abort_multipart_upload,
            Bucket=self.bucket,
            Key=key,
            UploadId=upload_id,
        )

    def upload_exists(self, key: str, upload_id: str) -> bool:
        try:
            self._s3.list_parts(Bucket=self.bucket, Key=key, UploadId=upload_id, MaxParts=1)
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchUpload", "404"):
                return False
            raise StorageError(f"checking upload {upload_id} failed: {_error_text(exc)}") from exc
        except BotoCoreError as exc:  # unreachable store: "unknown", not "gone"
            raise StorageError(f"checking upload {upload_id} failed: {_error_text(exc)}") from exc

    def put_small(self, key: str, data: bytes, content_type: str, locked_until: datetime | None = None) -> StoredObject:
        """Single-request put, for manifests and other small evidence files.

        With `locked_until` the object is written under COMPLIANCE retention in the same request, so
        there is no moment at which the new version exists unlocked.
        """
        lock: dict[str, object] = {}
        if locked_until is not None:
            if locked_until.tzinfo is None:
                raise ValueError("locked_until must be timezone-aware (UTC)")
            lock = {"ObjectLockMode": "COMPLIANCE", "ObjectLockRetainUntilDate": locked_until.astimezone(UTC)}
        resp = self._call(
            "storing object",
            self._s3.put_object,
            Bucket=self.bucket,
            Key=key,
            Body=data,
            ContentType=content_type,
            ChecksumSHA256=sha256_b64(data),
            **lock,
        )
        return StoredObject(key=key, version_id=str(resp.get("VersionId", "")), etag=str(resp.get("ETag", "")))

    def read_small(self, key: str, version_id: str, max_bytes: int) -> bytes:
        """A whole small object (a manifest, a checkpoint); a larger one is refused rather than read."""
        info = self.head(key, version_id)
        if info.size > max_bytes:
            raise StorageError(f"{key} is {info.size} bytes, more than the {max_bytes} expected")
        resp = self._call("reading object", self._s3.get_object, Bucket=self.bucket, Key=key, VersionId=version_id)
        try:
            return bytes(resp["Body"].read())
        except (BotoCoreError, OSError) as exc:
            raise StorageError(f"reading {key} failed mid-stream: {exc}") from exc

    # -- reading ----------------------------------------------------------------------------------

    def head(self, key: str, version_id: str | None = None) -> ObjectInfo:
        kwargs: dict[str, str] = {"Bucket": self.bucket, "Key": key}
        if version_id:
            kwargs["VersionId"] = version_id
        return _object_info(key, self._call("reading object head", self._s3.head_object, **kwargs))

    def find_version(self, key: str, version_id: str) -> ObjectInfo | None:
        """The version's head, or None when the store answers that it does not hold it.

        A store that cannot be reached raises StorageError: "unknown" is never reported as "gone".
        """
        try:
            resp = self._s3.head_object(Bucket=self.bucket, Key=key, VersionId=version_id)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("404", "NoSuchKey", "NoSuchVersion", "NotFound"):
                return None
            raise StorageError(f"reading object head failed: {_error_text(exc)}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"reading object head failed: {_error_text(exc)}") from exc
        return _object_info(key, resp)

    def key_pages(self, prefix: str, page: int = 1000) -> Iterator[list[str]]:
        """Every current key under `prefix` in the store's listing order, a page of at most `page` keys at a time.

        Paged by the store's continuation token, not by StartAfter: SeaweedFS (4.48) answers StartAfter
        wrongly in a versioned bucket when a key is the start of another (X.mp4, X.mp4.manifest.json),
        listing a key again and skipping another; nor does it list such keys in plain key order.
        """
        token = ""
        while True:
            keys, token = self.list_page(prefix, token, page)
            yield keys
            if not token:
                return

    def list_page(self, prefix: str, token: str, limit: int) -> tuple[list[str], str]:
        """One page of current keys under `prefix` and the token that continues after it ("" at the end)."""
        kwargs: dict[str, object] = {"Bucket": self.bucket, "Prefix": prefix, "MaxKeys": limit}
        if token:
            kwargs["ContinuationToken"] = token
        resp = self._call("listing objects", self._s3.list_objects_v2, **kwargs)
        keys = [str(item["Key"]) for item in resp.get("Contents", [])]
        more = resp.get("IsTruncated") and resp.get("NextContinuationToken")
        return keys, str(resp["NextContinuationToken"]) if more else ""

    def read_range(self, key: str, version_id: str, start: int, end: int | None, chunk: int = 256 * 1024) -> RangeRead:
        rng = f"bytes={start}-" if end is None else f"bytes={start}-{end}"
        resp = self._call(
            "reading object range", self._s3.get_object, Bucket=self.bucket, Key=key, VersionId=version_id, Range=rng
        )
        # Content-Range: bytes START-END/TOTAL
        content_range = str(resp["ContentRange"])
        span, total = content_range.split(" ", 1)[1].split("/")
        first, last = (int(x) for x in span.split("-"))
        body = resp["Body"]
        return RangeRead(body=body.iter_chunks(chunk), start=first, end=last, total_size=int(total), close=body.close)

    def sha256_hex(
        self, key: str, version_id: str, chunk: int = 1024 * 1024, observe: Callable[[bytes], None] | None = None
    ) -> tuple[str, int]:
        """Streams the stored object and returns (hex SHA-256, size): what the archive really holds.

        `observe` sees every block as it is hashed, for what else is made from the same single read."""
        resp = self._call("reading object", self._s3.get_object, Bucket=self.bucket, Key=key, VersionId=version_id)
        digest = hashlib.sha256()
        size = 0
        body = resp["Body"]
        try:
            for block in body.iter_chunks(chunk):
                digest.update(block)
                size += len(block)
                if observe is not None:
                    observe(block)
        except (BotoCoreError, OSError) as exc:
            raise StorageError(f"reading {key} failed mid-stream: {exc}") from exc
        return digest.hexdigest(), size

    # -- Object Lock ------------------------------------------------------------------------------

    def set_retention(self, key: str, version_id: str, retain_until: datetime) -> None:
        """COMPLIANCE retention, only ever extended: a shorter date is refused before the store is asked."""
        if retain_until.tzinfo is None:
            raise ValueError("retain_until must be timezone-aware (UTC)")
        current = self.head(key, version_id)
        if current.retain_until is not None and retain_until < current.retain_until:
            raise RetentionShorteningRefused(
                f"{key}: retention {retain_until.isoformat()} is earlier than the locked "
                f"{current.retain_until.astimezone(UTC).isoformat()}"
            )
        self._call(
            "setting retention",
            self._s3.put_object_retention,
            Bucket=self.bucket,
            Key=key,
            VersionId=version_id,
            Retention={"Mode": "COMPLIANCE", "RetainUntilDate": retain_until.astimezone(UTC)},
        )

    def set_legal_hold(self, key: str, version_id: str, on: bool) -> None:
        self._call(
            "setting legal hold",
            self._s3.put_object_legal_hold,
            Bucket=self.bucket,
            Key=key,
            VersionId=version_id,
            LegalHold={"Status": "ON" if on else "OFF"},
        )

    # -- deletion ---------------------------------------------------------------------------------

    def delete_version(self, key: str, version_id: str) -> None:
        self._call("deleting object version", self._s3.delete_object, Bucket=self.bucket, Key=key, VersionId=version_id)

    def delete_versions(self, versions: list[ObjectVersion]) -> DeleteReport:
        """Batch delete of specific versions; the store refuses any still under retention or hold."""
        deleted: list[ObjectVersion] = []
        failed: list[DeleteFailure] = []
        for i in range(0, len(versions), DELETE_BATCH):
            batch = versions[i : i + DELETE_BATCH]
            resp = self._call(
                "batch delete",
                self._s3.delete_objects,
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": v.key, "VersionId": v.version_id} for v in batch], "Quiet": False},
            )
            for d in resp.get("Deleted", []):
                deleted.append(ObjectVersion(d["Key"], d.get("VersionId", "")))
            for e in resp.get("Errors", []):
                failed.append(DeleteFailure(e["Key"], e.get("VersionId", ""), e.get("Code", ""), e.get("Message", "")))
        return DeleteReport(deleted=deleted, failed=failed)

    def list_versions(self, prefix: str) -> list[ObjectVersion]:
        out: list[ObjectVersion] = []
        paginator = self._s3.get_paginator("list_object_versions")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for v in page.get("Versions", []):
                    out.append(ObjectVersion(v["Key"], v["VersionId"]))
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(f"listing versions failed: {_error_text(exc)}") from exc
        return out
