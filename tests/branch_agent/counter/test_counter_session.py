"""A counter's lifecycle against the real recorder: complete, cancel, and kill -9 mid-recording."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from branch_agent.config import BranchConfig, load_branch_config
from branch_agent.counter.session import CounterSession, SessionError
from branch_agent.counter.sources import build_sources
from branch_agent.db.engine import open_spool_db
from branch_agent.db.models import CANCELLED, COMPLETED, INTERRUPTED, PENDING, Clip, LocalAudit
from branch_agent.spool.clip_manifest import SaleInfo
from branch_agent.spool.recovery import recover_interrupted
from storage.manifest import ClipManifest, verify_media
from storage.signing import SigningKey

REPO = Path(__file__).resolve().parents[3]
SALE = SaleInfo("SN-42", "王五", "resident_id", "11010519491231002X", "6222021234567890128", "P1", "产品一", "FIXED")


def _config(tmp_path: Path) -> Path:
    text = (REPO / "configs" / "branch.example.toml").read_text(encoding="utf-8")
    path = tmp_path / "branch.toml"
    path.write_text(text.replace('data_dir = "../var/branch"', f'data_dir = "{tmp_path / "data"}"'), encoding="utf-8")
    return path


@pytest.fixture()
def counter(tmp_path: Path):  # type: ignore[no-untyped-def]
    config: BranchConfig = load_branch_config(_config(tmp_path))
    sessions = open_spool_db(config.database_url())
    key = SigningKey.load_or_create(config.key_path)
    sources = build_sources(config, config.counters[0])
    sources.open()
    yield CounterSession(config, config.counters[0], sessions, key, sources), sessions, key
    sources.close()


def test_complete_writes_signed_chained_manifest(counter) -> None:  # type: ignore[no-untyped-def]
    session, sessions, key = counter
    first = session.start("1000001", SALE)
    with pytest.raises(SessionError, match="already recording"):
        session.start("1000001", SALE)
    time.sleep(2)
    one = session.complete("1000001")
    session.start("1000001", SALE)
    time.sleep(1.5)
    two = session.complete("1000001")
    m1 = ClipManifest.parse(one.manifest_path.read_bytes())
    m2 = ClipManifest.parse(two.manifest_path.read_bytes())
    m1.verify(key.public_key_b64)
    verify_media(m2, two.media_path)
    assert m1.clip_id == first and m2.prev_manifest_sha256 == m1.manifest_sha256()
    with sessions() as db:
        states = {c.clip_id: (c.state, c.upload_state) for c in db.execute(select(Clip)).scalars()}
    assert states == {one.clip_id: (COMPLETED, PENDING), two.clip_id: (COMPLETED, PENDING)}


def test_cancel_keeps_no_media_but_an_audit_line(counter) -> None:  # type: ignore[no-untyped-def]
    session, sessions, _ = counter
    clip_id = session.start("1000001", SALE)
    time.sleep(1.5)
    with pytest.raises(SessionError, match="reason"):
        session.cancel("1000001", "  ")
    session.cancel("1000001", "客户放弃办理")
    with sessions() as db:
        clip = db.execute(select(Clip).where(Clip.clip_id == clip_id)).scalar_one()
        audit = db.execute(
            select(LocalAudit).where(LocalAudit.target == clip_id, LocalAudit.action == "recording.cancelled")
        ).scalar_one()
    assert clip.state == CANCELLED and not Path(clip.media_path).exists()
    assert json.loads(audit.detail)["reason"] == "客户放弃办理"


def test_kill_9_mid_recording_leaves_an_interrupted_playable_clip(tmp_path: Path) -> None:
    config_path = _config(tmp_path)
    script = textwrap.dedent(f"""
        import sys, time
        from branch_agent.config import load_branch_config
        from branch_agent.spool.clip_manifest import SaleInfo
        from branch_agent.counter.session import CounterSession
        from branch_agent.counter.sources import build_sources
        from branch_agent.db.engine import open_spool_db
        from storage.signing import SigningKey
        config = load_branch_config(__import__("pathlib").Path({str(config_path)!r}))
        sources = build_sources(config, config.counters[0]); sources.open()
        s = CounterSession(config, config.counters[0], open_spool_db(config.database_url()),
                           SigningKey.load_or_create(config.key_path), sources)
        s.start("1000001", SaleInfo(*{list(SALE.__dict__.values())!r}))
        print("recording", flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "recording"
    started = time.monotonic()
    time.sleep(6)
    os.kill(proc.pid, signal.SIGKILL)
    recorded_s = time.monotonic() - started
    proc.wait(timeout=10)

    config = load_branch_config(config_path)
    sessions = open_spool_db(config.database_url())
    key = SigningKey.load_or_create(config.key_path)
    recovered = recover_interrupted(sessions, config.branch.code, key)
    assert len(recovered) == 1
    with sessions() as db:
        clip = db.execute(select(Clip)).scalar_one()
    assert clip.state == INTERRUPTED and clip.upload_state == PENDING
    manifest = ClipManifest.parse(Path(clip.manifest_path or "").read_bytes())
    manifest.verify(key.public_key_b64)
    verify_media(manifest, Path(clip.media_path))
    assert manifest.state == "interrupted"
    # at most about two seconds lost
    assert manifest.duration_ms >= (recorded_s - 2.5) * 1000
    assert recover_interrupted(sessions, config.branch.code, key) == []  # idempotent
