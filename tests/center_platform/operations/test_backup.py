"""Backup and restore of the catalogue and audit trail through `python -m center_platform backup`:
what was archived after the backup is gone after the restore, what was before is back, the audit chain
verifies. SQLite uses the online backup API; PostgreSQL pg_dump/pg_restore (when installed)."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from center_platform.config import load_center_config
from center_platform.db.models import Recording
from center_platform.operations import backup
from tests.center_platform.archive_rig import ArchiveRig, archive_rig  # noqa: F401


def main(argv: list[str]) -> int:
    """`python -m center_platform --config C backup ...`, parsed by the backup command's own parser."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", type=Path)
    backup.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.fn(load_center_config(args.config), args))


def _clip_ids(rig: ArchiveRig) -> set[str]:
    with rig.sessions() as db:
        return set(db.execute(select(Recording.clip_id)).scalars())


def test_backup_then_restore_brings_back_the_catalogue(
    archive_rig: ArchiveRig,
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if db_url.startswith("postgresql") and shutil.which("pg_dump") is None:
        pytest.skip("pg_dump is not installed")
    config = archive_rig.write_cli_config(tmp_path / "center.toml", monkeypatch)
    before = archive_rig.archive()
    backup = tmp_path / "center.backup"
    assert main(["--config", str(config), "backup", "create", str(backup)]) == 0
    assert backup.stat().st_size > 0 and backup.stat().st_mode & 0o077 == 0
    after = archive_rig.archive()
    assert {before, after} <= _clip_ids(archive_rig)
    archive_rig.app.extensions["center"].engine.dispose()  # the center is stopped for a restore
    capsys.readouterr()
    assert main(["--config", str(config), "backup", "restore", str(backup)]) == 0
    assert "audit trail verified" in capsys.readouterr().out
    ids = _clip_ids(archive_rig)
    assert before in ids and after not in ids


def test_restore_refuses_a_damaged_backup(
    archive_rig: ArchiveRig, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("SQLite's own integrity check")
    config = archive_rig.write_cli_config(tmp_path / "center.toml", monkeypatch)
    damaged = tmp_path / "damaged.backup"
    damaged.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4096)
    assert main(["--config", str(config), "backup", "restore", str(damaged)]) != 0
