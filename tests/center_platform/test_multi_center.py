"""Several center processes on one PostgreSQL: the expiry runs once, and a center killed in the middle
of it leaves nothing lost or certified twice; another finishes the job once the dead one's lease ends."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from center_platform.audit import trail as audit
from center_platform.config import ENV_DATABASE_URL, ENV_S3_ACCESS_KEY, ENV_S3_SECRET_KEY
from center_platform.db.engine import make_engine, make_session_factory, upgrade_to_head
from center_platform.db.models import AuditEvent, Branch, Product, ProductType, Recording
from storage.object_store import ObjectStore

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
CLIPS = 1200
BATCH = 100
LOCK_S = 3
LEASE_S = 5


def _seed(sessions, store: ObjectStore, prefix: str) -> list[str]:  # type: ignore[no-untyped-def]
    with sessions() as db:
        branch = Branch(code="B001", name="b", timezone="Asia/Shanghai", api_secret="x")
        ptype = ProductType(code="FIXED", name="fixed", retention_rule="fixed_term")
        db.add_all([branch, ptype])
        db.flush()
        product = Product(code="P-90", name="p", product_type_id=ptype.id, term_days=90, risk_level="R2")
        db.add(product)
        db.commit()
        ids = (branch.id, product.id, ptype.id)

    def one(n: int) -> dict[str, object]:
        until = (datetime.now(UTC) + timedelta(seconds=LOCK_S + 1)).replace(microsecond=0)
        clip_id = secrets.token_hex(16)
        key = f"{prefix}B001/2020/01/{n // 100:02d}/{clip_id}.mp4"
        media = secrets.token_bytes(256)
        manifest = json.dumps({"clip_id": clip_id}).encode()
        version = store.put_small(key, media, "video/mp4", locked_until=until).version_id
        store.put_small(key + ".manifest.json", manifest, "application/json", locked_until=until)
        started = datetime(2020, 1, 1, 2, tzinfo=UTC) + timedelta(minutes=n)
        return dict(
            clip_id=clip_id,
            branch_id=ids[0],
            counter_code="C01",
            staff_code="1000001",
            business_serial=f"SN-{n}",
            customer_name="张三",
            customer_id_type="passport",
            customer_id_number="E12345678",
            card_number="6222021234567890128",
            product_id=ids[1],
            product_type_id=ids[2],
            started_at=started,
            ended_at=started + timedelta(seconds=60),
            duration_ms=60000,
            clip_state="completed",
            size=len(media),
            sha256=hashlib.sha256(media).hexdigest(),
            manifest_sha256=hashlib.sha256(manifest).hexdigest(),
            manifest_json=manifest.decode(),
            object_key=key,
            version_id=version,
            state="archived",
            retention_rule="fixed_term",
            retain_until=until,
            retention_reason="test",
            legal_hold=False,
            verified_at=started,
            chain_status="linked",
        )

    with ThreadPoolExecutor(16) as pool:
        rows = list(pool.map(one, range(CLIPS)))
    with sessions() as db:
        db.execute(insert(Recording), rows)
        db.commit()
    last = max(r["retain_until"] for r in rows if isinstance(r["retain_until"], datetime))
    time.sleep(max(0.0, (last - datetime.now(UTC)).total_seconds()) + 1)
    return [str(r["clip_id"]) for r in rows]


def _center(workdir: Path, store: ObjectStore, db_url: str) -> tuple[list[str], dict[str, str]]:
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "center.toml"
    ep = store.endpoint
    config.write_text(
        f'[server]\ndata_dir = "{workdir}"\n\n[storage]\nmode = "external"\nendpoint_url = "{ep.url}"\n'
        f'bucket = "{ep.bucket}"\ndefault_lock_days = 0\n\n[expiry]\nbatch_size = {BATCH}\n',
        encoding="utf-8",
    )
    env = {
        **os.environ,
        ENV_DATABASE_URL: db_url,
        ENV_S3_ACCESS_KEY: ep.access_key,
        ENV_S3_SECRET_KEY: ep.secret_key,
        "CENTER_EXPIRY_LEASE_S": str(LEASE_S),
    }
    return [sys.executable, "-m", "center_platform", "--config", str(config), "expiry", "run"], env


def test_a_center_killed_mid_expiry_leaves_the_rest_to_another_once(
    postgres_url: str, store: ObjectStore, tmp_path: Path
) -> None:
    upgrade_to_head(postgres_url)
    engine = make_engine(postgres_url)
    sessions = make_session_factory(engine)
    prefix = f"clips/multi-{secrets.token_hex(4)}/"
    clip_ids = _seed(sessions, store, prefix)

    def started() -> int:
        with sessions() as db:
            return int(
                db.execute(
                    select(func.count()).select_from(Recording).where(Recording.state.in_(("deleted", "expiring")))
                ).scalar_one()
            )

    cmd_a, env_a = _center(tmp_path / "a", store, postgres_url)
    cmd_b, env_b = _center(tmp_path / "b", store, postgres_url)
    a = subprocess.Popen(
        cmd_a, env=env_a, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        while started() == 0 and a.poll() is None:
            time.sleep(0.02)
        time.sleep(0.3)  # into a later batch
        os.killpg(a.pid, signal.SIGKILL)
    finally:
        a.wait(timeout=30)
    assert a.returncode == -signal.SIGKILL, a.stdout.read() if a.stdout else b""
    done_by_a = started()
    assert 0 < done_by_a < CLIPS
    # The dead center's lease still holds: the other does nothing yet.
    b = subprocess.run(cmd_b, env=env_b, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert "holds the lock" in b.stdout, b.stdout + b.stderr
    time.sleep(LEASE_S + 1)
    b = subprocess.run(cmd_b, env=env_b, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert b.returncode == 0, b.stdout + b.stderr
    with sessions() as db:
        states = {
            str(state): int(n)
            for state, n in db.execute(select(Recording.state, func.count()).group_by(Recording.state)).all()
        }
        certs = db.execute(select(AuditEvent.target).where(AuditEvent.action == "retention.deleted")).scalars().all()
        missing = db.execute(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "retention.media_missing")
        ).scalar_one()
        resumed = db.execute(
            select(func.count())
            .select_from(AuditEvent)
            .where(
                AuditEvent.action == "retention.deleted", AuditEvent.detail.contains("completed_after_interrupted_run")
            )
        ).scalar_one()
        broken = audit.verify_chain(db)
    assert states == {"deleted": CLIPS}
    assert sorted(certs) == sorted(clip_ids)  # one certificate each, none twice
    assert missing == 0
    print(f"center A certified or began {done_by_a} of {CLIPS}; {resumed} finished by B after A died mid-batch")
    assert not broken
    assert store.list_versions(prefix) == []
    engine.dispose()
