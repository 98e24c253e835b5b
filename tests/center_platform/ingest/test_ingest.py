"""Ingest through the branch API: signed requests only, verified before catalogued, mismatches quarantined."""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from center_platform.app import create_app
from center_platform.config import CenterConfig
from center_platform.db.models import AuditEvent, Branch, Product, ProductType, Recording
from storage.manifest import ClipManifest
from storage.object_store import ObjectStore
from storage.signing import SigningKey
from tests.center_platform.archive_rig import BRANCH_SECRET, clip_manifest, signed_branch_request, upload_clip

SECRET = BRANCH_SECRET


@pytest.fixture()
def center(db_url: str, tmp_path: Path, store: ObjectStore, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CENTER_DATABASE_URL", db_url)
    config = CenterConfig.model_validate(
        {"server": {"data_dir": str(tmp_path / "center")}, "storage": {"part_size_mb": 5}}
    )
    app = create_app(config, store)
    key = SigningKey.generate()
    svc = app.extensions["center"]
    with svc.sessions() as db:
        db.add(Branch(code="B009", name="测试支行", api_secret=SECRET, signing_public_key=key.public_key_b64))
        ptype = ProductType(code="FIXED", name="固定期限", retention_rule="fixed_term")
        db.add(ptype)
        db.flush()
        db.add(Product(code="P-90", name="九十天", product_type_id=ptype.id, term_days=90, risk_level="R2"))
        db.commit()
    yield app, key
    svc.engine.dispose()


def _signed(
    client: FlaskClient,
    method: str,
    path: str,
    body: object | None = None,
    ts: int | None = None,
    secret: str = SECRET,
    headers: dict[str, str] | None = None,
):  # type: ignore[no-untyped-def]
    return signed_branch_request(client, method, path, body, ts, secret, headers)


def _manifest(key: SigningKey, media: bytes) -> ClipManifest:
    return clip_manifest(key, media)


_upload = upload_clip


def _count(app, model) -> int:  # type: ignore[no-untyped-def]
    with app.extensions["center"].sessions() as db:
        return int(db.execute(select(func.count()).select_from(model)).scalar_one())


def test_verified_clip_is_locked_and_catalogued_once(center) -> None:  # type: ignore[no-untyped-def]
    app, key = center
    client = app.test_client()
    media = secrets.token_bytes(5 * 1024 * 1024 + 777)  # two parts
    manifest = _manifest(key, media)
    outcome = _upload(client, manifest, media)
    assert outcome["state"] == "verified", outcome
    # The same clip registered again (a branch retrying after a lost reply) stays one catalogue row.
    r, _ = _signed(client, "POST", "/api/branch/v1/uploads", {"manifest": json.loads(manifest.canonical_bytes())})
    assert r.status_code == 200 and r.get_json()["state"] == "verified"
    r, _ = _signed(client, "POST", f"/api/branch/v1/uploads/{manifest.clip_id}/complete")
    assert r.get_json()["state"] == "verified"
    assert _count(app, Recording) == 1
    with app.extensions["center"].sessions() as db:
        rec = db.execute(select(Recording)).scalar_one()
        info = app.extensions["center"].store.head(rec.object_key, rec.version_id)
    assert info.lock_mode == "COMPLIANCE" and info.retain_until == rec.retain_until


def test_hash_mismatch_is_quarantined_never_catalogued(center) -> None:  # type: ignore[no-untyped-def]
    app, key = center
    client = app.test_client()
    media = secrets.token_bytes(4000)
    manifest = _manifest(key, media)
    other = bytearray(media)
    other[10] ^= 0xFF  # what arrives differs from what the branch signed
    outcome = _upload(client, manifest, bytes(other))
    assert outcome["status"] == 422 and outcome["state"] == "quarantined"
    assert "SHA-256" in str(outcome["reason"])
    assert _count(app, Recording) == 0
    with app.extensions["center"].sessions() as db:
        actions = db.execute(select(AuditEvent.action)).scalars().all()
    assert "ingest.quarantined" in actions


def test_unsigned_replayed_stale_and_forged_requests_are_refused(center) -> None:  # type: ignore[no-untyped-def]
    app, _ = center
    client = app.test_client()
    assert client.get("/api/branch/v1/catalog").status_code == 401
    r, headers = _signed(client, "GET", "/api/branch/v1/catalog")
    assert r.status_code == 200 and r.get_json()["products"][0]["code"] == "P-90"
    replay, _ = _signed(client, "GET", "/api/branch/v1/catalog", headers=headers)
    assert replay.status_code == 401 and "replay" in replay.get_json()["error"]
    stale, _ = _signed(client, "GET", "/api/branch/v1/catalog", ts=int(time.time()) - 3 * 3600)
    assert stale.status_code == 401 and "timestamp" in stale.get_json()["error"]
    assert stale.headers["X-DR-Center-Time"].isdigit()  # lets a branch with a wrong clock correct itself
    forged, _ = _signed(client, "GET", "/api/branch/v1/catalog", secret="guessed")
    assert forged.status_code == 401


def test_manifest_signed_by_another_key_is_refused(center) -> None:  # type: ignore[no-untyped-def]
    app, _ = center
    client = app.test_client()
    manifest = _manifest(SigningKey.generate(), b"abc")
    r, _ = _signed(client, "POST", "/api/branch/v1/uploads", {"manifest": json.loads(manifest.canonical_bytes())})
    assert r.status_code == 422 and "key" in r.get_json()["error"]
    assert _count(app, Recording) == 0
