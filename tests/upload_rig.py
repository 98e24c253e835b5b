"""A real center process, a branch spool and clips with signed manifests, for upload fault tests.

The center runs as `python -m center_platform serve` against an existing S3 (the SeaweedFS the test
started), so that a test can kill it with SIGKILL and start it again on the same port. The branch is
a spool database and a config file, used in-process or by `python -m branch_agent upload run`.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from branch_agent.center_link.client import CenterClient
from branch_agent.config import ENV_API_SECRET
from branch_agent.db.engine import open_spool_db
from branch_agent.db.models import COMPLETED, PENDING, Clip, UploadTransition
from branch_agent.spool.clip_manifest import write_durably
from center_platform.config import ENV_DATABASE_URL, ENV_S3_ACCESS_KEY, ENV_S3_SECRET_KEY
from center_platform.db.engine import make_engine, make_session_factory, upgrade_to_head
from center_platform.db.models import Branch, IngestUpload, Product, ProductType, Recording
from storage.endpoint import S3Endpoint
from storage.manifest import ClipManifest
from storage.object_store import ObjectStore
from storage.signing import SigningKey

REPO = Path(__file__).resolve().parent.parent
BRANCH_CODE = "B009"
PRODUCT_CODE = "P-90"
PART_SIZE_MB = 5  # the smallest S3 allows, so a few MB make a multi-part clip


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class CenterProcess:
    """The center as a real server process on a fixed port; kill() is a crash, start() a restart."""

    workdir: Path
    endpoint: S3Endpoint
    port: int = field(default_factory=free_port)
    part_size_mb: int = PART_SIZE_MB
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.workdir / 'center.db'}"

    def write_config(self) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        path = self.workdir / "center.toml"
        path.write_text(
            f'[server]\nport = {self.port}\ndata_dir = "{self.workdir}"\n\n'
            f'[storage]\nmode = "external"\nendpoint_url = "{self.endpoint.url}"\nbucket = "{self.endpoint.bucket}"\n'
            f"part_size_mb = {self.part_size_mb}\n"
            # The test store's bucket is shared with tests that lock objects for seconds: leave its default.
            "default_lock_days = 0\n",
            encoding="utf-8",
        )
        return path

    def start(self, timeout_s: float = 60.0) -> None:
        config = self.write_config()
        env = {
            **os.environ,
            ENV_DATABASE_URL: self.db_url,
            ENV_S3_ACCESS_KEY: self.endpoint.access_key,
            ENV_S3_SECRET_KEY: self.endpoint.secret_key,
        }
        with open(self.workdir / "center.log", "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "center_platform", "--config", str(config), "serve"],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO,
                env=env,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"center exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                # Unauthenticated and independent of storage: the center itself is up.
                if requests.get(self.url + "/api/branch/v1/time", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"center did not come up within {timeout_s:.0f} s:\n{self.log_tail()}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
        self.proc = None

    def log_tail(self, chars: int = 3000) -> str:
        path = self.workdir / "center.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"

    def sessions(self) -> sessionmaker[Session]:
        return make_session_factory(make_engine(self.db_url))


def seed_center(center: CenterProcess, secret: str, public_key_b64: str) -> None:
    """The branch enrolled with its signing key, and one fixed-term product."""
    upgrade_to_head(center.db_url)
    engine = make_engine(center.db_url)
    with make_session_factory(engine)() as db:
        db.add(Branch(code=BRANCH_CODE, name="测试支行", api_secret=secret, signing_public_key=public_key_b64))
        ptype = ProductType(code="FIXED", name="固定期限", retention_rule="fixed_term")
        db.add(ptype)
        db.flush()
        db.add(Product(code=PRODUCT_CODE, name="九十天", product_type_id=ptype.id, term_days=90, risk_level="R2"))
        db.commit()
    engine.dispose()


@dataclass
class BranchRig:
    """A branch spool (database, signing key, config file) talking to `center_url`."""

    data_dir: Path
    center_url: str
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    bandwidth_mbit: float = 0.0
    # Another spool of the same branch (same enrolled key), so tests need not share one queue.
    same_branch_as: BranchRig | None = None

    def __post_init__(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key_path = self.data_dir / "keys" / "manifest-signing.pem"
        if self.same_branch_as is not None:
            key_path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(self.same_branch_as.data_dir / "keys" / "manifest-signing.pem", key_path)
            self.secret = self.same_branch_as.secret
        self.key = SigningKey.load_or_create(key_path)
        self.sessions = open_spool_db(f"sqlite:///{self.data_dir / 'branch.db'}")

    def write_config(self) -> Path:
        path = self.data_dir.parent / f"{self.data_dir.name}.toml"
        path.write_text(
            f'[branch]\ncode = "{BRANCH_CODE}"\nname = "测试支行"\ndata_dir = "{self.data_dir}"\n\n'
            f'[center]\nurl = "{self.center_url}"\ntimeout_s = 30\n\n'
            f"[upload]\nbandwidth_mbit = {self.bandwidth_mbit}\n\n"
            '[[counters]]\ncode = "C01"\nname = "理财室1号柜台"\n'
            'environment = { kind = "synthetic", width = 64, height = 48, fps = 5 }\n'
            'desk = { kind = "synthetic", width = 64, height = 48, fps = 5 }\n'
            'microphone = { kind = "tone" }\n',
            encoding="utf-8",
        )
        return path

    def env(self) -> dict[str, str]:
        return {**os.environ, ENV_API_SECRET: self.secret}

    def client(self, **kwargs: object) -> CenterClient:
        return CenterClient(self.center_url, BRANCH_CODE, self.secret, **kwargs)  # type: ignore[arg-type]

    def add_clip(self, size: int, started_at: datetime | None = None) -> tuple[Clip, bytes]:
        """A completed clip of random bytes with its signed manifest, queued for upload."""
        media = secrets.token_bytes(size)
        clip_id = secrets.token_hex(16)
        spool = self.data_dir / "spool"
        spool.mkdir(parents=True, exist_ok=True)
        media_path = spool / f"{clip_id}.mp4"
        media_path.write_bytes(media)
        start = started_at or datetime.now(UTC) - timedelta(minutes=5)
        manifest = signed_manifest(
            self.key, clip_id, start, media_path.name, len(media), hashlib.sha256(media).hexdigest()
        )
        manifest_path = media_path.with_suffix(".manifest.json")
        write_durably(manifest_path, manifest.canonical_bytes())
        with self.sessions() as db:
            clip = Clip(
                clip_id=clip_id,
                counter_code="C01",
                staff_code="1000001",
                business_serial=manifest.business_serial,
                sale_json="{}",
                state=COMPLETED,
                media_path=str(media_path),
                manifest_path=str(manifest_path),
                started_at=start,
                ended_at=manifest.ended_at,
                duration_ms=manifest.duration_ms,
                size=len(media),
                sha256=manifest.media.sha256,
                manifest_sha256=manifest.manifest_sha256(),
                upload_state=PENDING,
            )
            db.add(clip)
            db.commit()
            db.refresh(clip)
            db.expunge(clip)
        return clip, media

    def clip(self, clip_id: str) -> Clip:
        with self.sessions() as db:
            clip = db.execute(select(Clip).where(Clip.clip_id == clip_id)).scalar_one()
            db.expunge(clip)
            return clip

    def transitions(self, clip_id: str) -> list[tuple[str | None, str, str]]:
        with self.sessions() as db:
            rows = db.execute(
                select(UploadTransition).where(UploadTransition.clip_id == clip_id).order_by(UploadTransition.id)
            ).scalars()
            return [(t.from_state, t.to_state, t.detail) for t in rows]


def signed_manifest(
    key: SigningKey, clip_id: str, start: datetime, file_name: str, size: int, sha256_hex: str
) -> ClipManifest:
    return ClipManifest.model_validate(
        {
            "clip_id": clip_id,
            "state": "completed",
            "branch_code": BRANCH_CODE,
            "counter_code": "C01",
            "staff_code": "1000001",
            "business_serial": "SN-" + secrets.token_hex(4),
            "customer": {
                "name": "李四",
                "id_type": "passport",
                "id_number": "E12345678",
                "card_number": "6222021234567890128",
            },
            "product": {"code": PRODUCT_CODE, "name": "九十天", "type_code": "FIXED"},
            "started_at": start,
            "ended_at": start + timedelta(seconds=3),
            "duration_ms": 3000,
            "media": {
                "file_name": file_name,
                "size": size,
                "sha256": sha256_hex,
                "video_codec": "h264",
                "width": 1920,
                "height": 1080,
                "fps": 25,
                "audio_codec": "aac",
                "sample_rate": 48000,
            },
        }
    ).signed(key)


@dataclass(frozen=True)
class ArchivedClip:
    """What the archive holds for a clip, as an auditor would check it."""

    catalogue_rows: int
    ingest_rows: int
    recording_sha256: str | None
    object_versions: list[str]
    manifest_versions: list[str]
    stored_sha256: str | None
    lock_mode: str | None


def archived(center: CenterProcess, store: ObjectStore, clip_id: str) -> ArchivedClip:
    engine = make_engine(center.db_url)
    try:
        with make_session_factory(engine)() as db:
            rows = int(
                db.execute(select(func.count()).select_from(Recording).where(Recording.clip_id == clip_id)).scalar_one()
            )
            ingest = db.execute(select(IngestUpload).where(IngestUpload.clip_id == clip_id)).scalars().all()
            rec = db.execute(select(Recording).where(Recording.clip_id == clip_id)).scalar_one_or_none()
            key = ingest[0].object_key if ingest else None
    finally:
        engine.dispose()
    versions = [v.version_id for v in store.list_versions(key) if v.key == key] if key else []
    manifests = (
        [v.version_id for v in store.list_versions(key + ".manifest.json") if key and v.key == key + ".manifest.json"]
        if key
        else []
    )
    stored = lock = None
    if rec is not None:
        stored, _ = store.sha256_hex(rec.object_key, rec.version_id)
        lock = store.head(rec.object_key, rec.version_id).lock_mode
    return ArchivedClip(rows, len(ingest), rec.sha256 if rec else None, versions, manifests, stored, lock)


def ingest_row(center: CenterProcess, clip_id: str) -> tuple[str, str | None, str] | None:
    """(object key, multipart upload id, state) of the clip at the center, once registered."""
    engine = make_engine(center.db_url)
    try:
        with make_session_factory(engine)() as db:
            row = db.execute(select(IngestUpload).where(IngestUpload.clip_id == clip_id)).scalar_one_or_none()
            return None if row is None else (row.object_key, row.upload_id, row.state)
    finally:
        engine.dispose()


def manifest_of(clip: Clip) -> dict[str, object]:
    assert clip.manifest_path is not None
    return json.loads(Path(clip.manifest_path).read_text(encoding="utf-8"))
