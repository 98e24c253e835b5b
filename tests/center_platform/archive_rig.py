"""A center app with an enrolled branch, products of both retention rules and a user per role, and a
way to put clips into its archive through the real branch API (signed requests, presigned parts to
SeaweedFS, verification, Object Lock). Center tests import `archive_rig` and build on it.

    def test_something(archive_rig: ArchiveRig) -> None:
        clip_id = archive_rig.archive(customer_name="王小明", started_at=...)
        compliance = archive_rig.login("compliance")          # a Flask test client, signed in
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from center_platform.app import create_app
from center_platform.config import CenterConfig
from center_platform.db.models import Branch, Counter, Product, ProductType, User
from storage.contract.request_signing import sign_request
from storage.manifest import ClipManifest
from storage.object_store import ObjectStore
from storage.signing import SigningKey
from tests.password_hashes import seeded_hash

BRANCH_CODE = "B009"
OTHER_BRANCH_CODE = "B010"
BRANCH_SECRET = "branch-secret-for-tests"
FIXED_PRODUCT = "P-90"  # fixed term, 90 days
OPEN_PRODUCT = "OPEN-1"  # open-ended
USER_PASSWORD = "center-pass-2026"
# username -> (role, branch code or None)
USERS = {
    "compliance": ("compliance_officer", None),
    "sysadmin": ("system_admin", None),
    "auditor": ("auditor", None),
    "b009admin": ("branch_admin", BRANCH_CODE),
    "b010admin": ("branch_admin", OTHER_BRANCH_CODE),
}


def signed_branch_request(
    client: FlaskClient,
    method: str,
    path: str,
    body: object | None = None,
    ts: int | None = None,
    secret: str = BRANCH_SECRET,
    headers: dict[str, str] | None = None,
):  # type: ignore[no-untyped-def]
    """(response, headers sent) for an HMAC-signed branch request."""
    data = b"" if body is None else json.dumps(body).encode()
    h = (
        headers
        or sign_request(BRANCH_CODE, secret, method, path, data, ts if ts is not None else int(time.time())).as_dict()
    )
    return client.open(path, method=method, data=data, headers=h, content_type="application/json"), h


def clip_manifest(
    key: SigningKey,
    media: bytes,
    *,
    started_at: datetime | None = None,
    product_code: str = FIXED_PRODUCT,
    customer_name: str = "李四",
    id_type: str = "passport",
    id_number: str = "E12345678",
    card_number: str = "6222021234567890128",
    business_serial: str | None = None,
    staff_code: str = "1000001",
    prev_manifest_sha256: str | None = None,
) -> ClipManifest:
    start = started_at or datetime.now(UTC) - timedelta(minutes=5)
    return ClipManifest.model_validate(
        {
            "clip_id": secrets.token_hex(16),
            "state": "completed",
            "branch_code": BRANCH_CODE,
            "counter_code": "C01",
            "staff_code": staff_code,
            "business_serial": business_serial or "SN-" + secrets.token_hex(4),
            "customer": {"name": customer_name, "id_type": id_type, "id_number": id_number, "card_number": card_number},
            "product": {"code": product_code, "name": product_code, "type_code": "X"},
            "started_at": start,
            "ended_at": start + timedelta(seconds=3),
            "duration_ms": 3000,
            "prev_manifest_sha256": prev_manifest_sha256,
            "media": {
                "file_name": "c.mp4",
                "size": len(media),
                "sha256": hashlib.sha256(media).hexdigest(),
                "video_codec": "h264",
                "width": 1920,
                "height": 1080,
                "fps": 25,
                "audio_codec": "aac",
                "sample_rate": 48000,
            },
        }
    ).signed(key)


def upload_clip(client: FlaskClient, manifest: ClipManifest, media: bytes) -> dict[str, object]:
    """The branch's whole upload protocol; returns the complete call's status and body."""
    r, _ = signed_branch_request(
        client, "POST", "/api/branch/v1/uploads", {"manifest": json.loads(manifest.canonical_bytes())}
    )
    assert r.status_code == 200, r.get_json()
    plan = r.get_json()
    if plan["state"] == "uploading":
        parts = []
        for n in range(1, plan["part_count"] + 1):
            body = media[(n - 1) * plan["part_size"] : n * plan["part_size"]]
            parts.append({"part_number": n, "sha256_b64": base64.b64encode(hashlib.sha256(body).digest()).decode()})
        r, _ = signed_branch_request(
            client, "POST", f"/api/branch/v1/uploads/{manifest.clip_id}/parts", {"parts": parts}
        )
        assert r.status_code == 200, r.get_json()
        for p in r.get_json()["parts"]:
            n = p["part_number"]
            resp = requests.put(
                p["url"],
                data=media[(n - 1) * plan["part_size"] : n * plan["part_size"]],
                headers=p["headers"],
                timeout=30,
            )
            assert resp.status_code == 200, resp.text
    r, _ = signed_branch_request(client, "POST", f"/api/branch/v1/uploads/{manifest.clip_id}/complete")
    return {"status": r.status_code, **r.get_json()}


@dataclass
class ArchiveRig:
    app: Flask
    key: SigningKey  # the branch's manifest-signing key

    @property
    def sessions(self) -> sessionmaker[Session]:
        return self.app.extensions["center"].sessions

    @property
    def store(self) -> ObjectStore:
        return self.app.extensions["center"].store

    @property
    def config(self) -> CenterConfig:
        return self.app.extensions["center"].config

    def write_cli_config(self, path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
        """A config file for `python -m center_platform` pointing at this archive's database and store."""
        store = self.store.endpoint
        monkeypatch.setenv("CENTER_S3_ACCESS_KEY", store.access_key)
        monkeypatch.setenv("CENTER_S3_SECRET_KEY", store.secret_key)
        path.write_text(
            f"""[server]
data_dir = "{self.config.server.data_dir}"

[storage]
mode = "external"
endpoint_url = "{store.url}"
bucket = "{store.bucket}"
region = "{store.region}"
# The test store's bucket is shared with tests that lock objects for seconds: leave its default.
default_lock_days = 0

[audit]
checkpoint_prefix = "{self.config.audit.checkpoint_prefix}"
""",
            encoding="utf-8",
        )
        return path

    def branch_client(self) -> FlaskClient:
        return self.app.test_client()

    def archive(self, media: bytes | None = None, **manifest_fields: object) -> str:
        """A clip through the real upload protocol into the archive; returns its clip id (verified)."""
        body = media if media is not None else secrets.token_bytes(4096)
        manifest = clip_manifest(self.key, body, **manifest_fields)  # type: ignore[arg-type]
        outcome = upload_clip(self.branch_client(), manifest, body)
        assert outcome["state"] == "verified", outcome
        return manifest.clip_id

    def login(self, username: str) -> FlaskClient:
        """A test client signed in as one of USERS; `client.environ_base` carries the CSRF header for unsafe methods."""
        client = self.app.test_client()
        r = client.post("/api/session", json={"username": username, "password": USER_PASSWORD})
        assert r.status_code == 200, r.get_json()
        client.environ_base["HTTP_X_CSRF_TOKEN"] = r.get_json()["csrf_token"]
        return client


def seed_archive(app: Flask, key: SigningKey) -> None:
    with app.extensions["center"].sessions() as db:
        branches = {}
        for code, name in ((BRANCH_CODE, "测试支行"), (OTHER_BRANCH_CODE, "另一支行")):
            branch = Branch(
                code=code,
                name=name,
                timezone="Asia/Shanghai",
                api_secret=BRANCH_SECRET if code == BRANCH_CODE else secrets.token_hex(16),
                signing_public_key=key.public_key_b64 if code == BRANCH_CODE else SigningKey.generate().public_key_b64,
            )
            db.add(branch)
            db.flush()
            db.add(Counter(branch_id=branch.id, code="C01", name="理财室1号柜台"))
            branches[code] = branch
        fixed = ProductType(code="FIXED", name="固定期限", retention_rule="fixed_term")
        open_ended = ProductType(code="OPEN", name="开放式", retention_rule="open_ended")
        db.add_all([fixed, open_ended])
        db.flush()
        db.add(Product(code=FIXED_PRODUCT, name="稳盈九十天", product_type_id=fixed.id, term_days=90, risk_level="R2"))
        db.add(Product(code=OPEN_PRODUCT, name="天天开放", product_type_id=open_ended.id, risk_level="R3"))
        for username, (role, branch_code) in USERS.items():
            db.add(
                User(
                    username=username,
                    display_name=username,
                    role=role,
                    password_hash=seeded_hash(USER_PASSWORD),
                    branch_id=branches[branch_code].id if branch_code else None,
                )
            )
        db.commit()


@pytest.fixture()
def archive_rig(
    db_url: str, tmp_path: Path, store: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ArchiveRig]:
    monkeypatch.setenv("CENTER_DATABASE_URL", db_url)
    config = CenterConfig.model_validate(
        {
            "server": {"data_dir": str(tmp_path / "center")},
            # Catalogue fixtures date their sales to fixed days, months back: none of them is flagged as late.
            "storage": {"part_size_mb": 5, "max_clip_age_days": 3650},
            # The test store is shared by every test: each archive anchors its audit trail apart.
            "audit": {"checkpoint_prefix": f"audit-checkpoints/{secrets.token_hex(6)}/"},
        }
    )
    app = create_app(config, store)
    key = SigningKey.generate()
    seed_archive(app, key)
    yield ArchiveRig(app, key)
    app.extensions["center"].engine.dispose()


def local_day(value: datetime, tz: str = "Asia/Shanghai") -> date:
    from zoneinfo import ZoneInfo

    return value.astimezone(ZoneInfo(tz)).date()
