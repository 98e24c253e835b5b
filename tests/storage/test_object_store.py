"""The object store client against the real SeaweedFS: presigned multipart upload and Object Lock."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest
import requests

from storage.object_store import (
    MIN_PART_SIZE,
    ObjectStore,
    ObjectVersion,
    RetentionShorteningRefused,
    StorageError,
    sha256_b64,
)


def _upload(store: ObjectStore, key: str, parts: list[bytes]) -> str:
    upload_id = store.create_multipart(key)
    for n, body in enumerate(parts, 1):
        signed = store.presign_part(key, upload_id, n, sha256_b64(body), 300)
        resp = requests.put(signed.url, data=body, headers=signed.headers, timeout=30)
        assert resp.status_code == 200, resp.text
    stored = store.list_parts(key, upload_id)
    assert [p.part_number for p in stored] == list(range(1, len(parts) + 1))
    return store.complete_multipart(key, upload_id, stored).version_id


def test_presigned_multipart_upload_round_trips(store: ObjectStore) -> None:
    key = f"t/{secrets.token_hex(4)}.bin"
    parts = [secrets.token_bytes(MIN_PART_SIZE), secrets.token_bytes(1234)]
    version = _upload(store, key, parts)
    import hashlib

    digest, size = store.sha256_hex(key, version)
    assert size == MIN_PART_SIZE + 1234
    assert digest == hashlib.sha256(b"".join(parts)).hexdigest()
    read = store.read_range(key, version, 10, 19)
    assert (read.start, read.end, read.total_size) == (10, 19, size)
    assert b"".join(read.body) == parts[0][10:20]


def test_part_whose_bytes_differ_from_its_checksum_is_refused(store: ObjectStore) -> None:
    key = f"t/{secrets.token_hex(4)}.bin"
    upload_id = store.create_multipart(key)
    good = secrets.token_bytes(1000)
    signed = store.presign_part(key, upload_id, 1, sha256_b64(good), 300)
    corrupted = bytearray(good)
    corrupted[500] ^= 0xFF
    resp = requests.put(signed.url, data=bytes(corrupted), headers=signed.headers, timeout=30)
    assert resp.status_code in (400, 403)
    assert store.list_parts(key, upload_id) == []
    store.abort_multipart(key, upload_id)


def test_compliance_retention_blocks_deletion_and_only_extends(store: ObjectStore) -> None:
    key = f"t/{secrets.token_hex(4)}.bin"
    version = store.put_small(key, b"evidence", "application/octet-stream").version_id
    until = datetime.now(UTC) + timedelta(days=3)
    store.set_retention(key, version, until)
    info = store.head(key, version)
    assert info.lock_mode == "COMPLIANCE"
    assert info.retain_until is not None and abs((info.retain_until - until).total_seconds()) < 1
    with pytest.raises(StorageError):
        store.delete_version(key, version)
    report = store.delete_versions([ObjectVersion(key, version)])
    assert report.deleted == [] and len(report.failed) == 1
    with pytest.raises(RetentionShorteningRefused):
        store.set_retention(key, version, until - timedelta(days=1))
    store.set_retention(key, version, until + timedelta(days=365))
    assert store.head(key, version).retain_until > until  # type: ignore[operator]


def test_legal_hold_on_and_off(store: ObjectStore) -> None:
    key = f"t/{secrets.token_hex(4)}.bin"
    version = store.put_small(key, b"held", "application/octet-stream").version_id
    store.set_legal_hold(key, version, True)
    assert store.head(key, version).legal_hold
    with pytest.raises(StorageError):
        store.delete_version(key, version)
    store.set_legal_hold(key, version, False)
    assert not store.head(key, version).legal_hold
    report = store.delete_versions([ObjectVersion(key, version)])
    assert [v.version_id for v in report.deleted] == [version]


def test_bucket_default_lock_leaves_no_version_unlocked(store: ObjectStore) -> None:
    """An object the archive never gets to lock itself (quarantined, or caught between assembly and the
    retention call) is still under COMPLIANCE retention from the moment the store has it."""
    from dataclasses import replace

    own = ObjectStore(replace(store.endpoint, bucket=f"deflock-{secrets.token_hex(3)}"))
    own.ensure_evidence_bucket(default_lock_days=3)
    own.ensure_evidence_bucket(default_lock_days=3)  # idempotent on an existing bucket
    small = own.put_small("manifests/a.json", b"{}", "application/json")
    key = "clips/b.mp4"
    upload_id = own.create_multipart(key)
    body = secrets.token_bytes(1000)
    signed = own.presign_part(key, upload_id, 1, sha256_b64(body), 300)
    assert requests.put(signed.url, data=body, headers=signed.headers, timeout=30).status_code == 200
    assembled = own.complete_multipart(key, upload_id, own.list_parts(key, upload_id))
    soon = datetime.now(UTC) + timedelta(days=2)
    for obj_key, version in (("manifests/a.json", small.version_id), (key, assembled.version_id)):
        info = own.head(obj_key, version)
        assert info.lock_mode == "COMPLIANCE" and info.retain_until is not None and info.retain_until > soon
        with pytest.raises(StorageError):
            own.delete_version(obj_key, version)
