"""The branch spool is the agent's alone: clips, manifests and the spool database 0600, in 0700 directories."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

from branch_agent.config import BranchConfig, load_branch_config
from branch_agent.counter.session import CounterSession
from branch_agent.counter.sources import build_sources
from branch_agent.db.engine import open_spool_db
from branch_agent.db.models import LocalAudit
from branch_agent.spool.clip_manifest import SaleInfo, write_durably
from storage.signing import SigningKey

REPO = Path(__file__).resolve().parents[3]
SALE = SaleInfo("SN-77", "赵六", "resident_id", "11010519491231002X", "6222021234567890128", "P1", "产品一", "FIXED")


def _mode(path: Path) -> str:
    return oct(stat.S_IMODE(path.stat().st_mode))


def _config(tmp_path: Path) -> BranchConfig:
    text = (REPO / "configs" / "branch.example.toml").read_text(encoding="utf-8")
    path = tmp_path / "branch.toml"
    path.write_text(text.replace('data_dir = "../var/branch"', f'data_dir = "{tmp_path / "data"}"'), encoding="utf-8")
    return load_branch_config(path)


def test_spool_db_is_0600_in_a_0700_directory(tmp_path: Path) -> None:
    config = _config(tmp_path)
    config.branch.data_dir.mkdir(parents=True)  # as the agent's start-up makes it, with the default mode
    os.chmod(config.branch.data_dir, 0o755)
    sessions = open_spool_db(config.database_url())
    with sessions() as db:
        db.add(LocalAudit(actor="test", action="probe", target="-", detail="{}"))
        db.commit()
        spool_db = config.branch.data_dir / "branch.db"
        files = [p for p in (spool_db, Path(f"{spool_db}-wal"), Path(f"{spool_db}-shm")) if p.exists()]
        assert len(files) == 3
        assert {p.name: _mode(p) for p in files} == {p.name: "0o600" for p in files}
    assert _mode(config.branch.data_dir) == "0o700"


def test_clip_and_manifest_are_0600_in_0700_directories(tmp_path: Path, cjk_font: Path) -> None:
    config = _config(tmp_path)
    sessions = open_spool_db(config.database_url())
    key = SigningKey.load_or_create(config.key_path)
    sources = build_sources(config, config.counters[0])
    sources.open()
    try:
        session = CounterSession(config, config.counters[0], sessions, key, sources)
        session.start("1000001", SALE)
        time.sleep(1.5)
        done = session.complete("1000001")
    finally:
        sources.close()
    assert done.media_path.stat().st_size > 0
    assert {p.name: _mode(p) for p in (done.media_path, done.manifest_path)} == {
        done.media_path.name: "0o600",
        done.manifest_path.name: "0o600",
    }
    for directory in (done.media_path.parent, config.spool_dir, config.branch.data_dir):
        assert _mode(directory) == "0o700", directory


def test_a_manifest_rewritten_over_a_leftover_is_0600(tmp_path: Path) -> None:
    target = tmp_path / "clip.json"
    leftover = tmp_path / "clip.json.tmp"  # from a crash, made by an earlier version with 0644
    leftover.write_bytes(b"partial")
    leftover.chmod(0o644)
    write_durably(target, b'{"clip": 1}')
    assert target.read_bytes() == b'{"clip": 1}'
    assert _mode(target) == "0o600"
