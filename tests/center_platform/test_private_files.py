"""The center's database is the center's alone: center.db (and SQLite's -wal and -shm) 0600 in a 0700 directory."""

from __future__ import annotations

import stat
from pathlib import Path

from sqlalchemy import text

from center_platform.config import CenterConfig, ServerSection
from center_platform.db.engine import make_engine, upgrade_to_head


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_center_db_is_created_0600_in_a_0700_directory(tmp_path: Path) -> None:
    config = CenterConfig(server=ServerSection(data_dir=tmp_path / "var" / "center"))
    url = config.database_url()
    # As the center starts: migrate, then open the engine and write.
    upgrade_to_head(url)
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE probe (x INTEGER)"))
        conn.execute(text("INSERT INTO probe VALUES (1)"))
        db = config.server.data_dir / "center.db"
        assert db.exists()
        written = [p for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")) if p.exists()]
        assert len(written) == 3  # WAL mode: SQLite made its companions, with the database's mode
        assert {p.name: oct(_mode(p)) for p in written} == {p.name: "0o600" for p in written}
    engine.dispose()
    assert _mode(config.server.data_dir) == 0o700


def test_an_existing_world_readable_center_db_is_closed(tmp_path: Path) -> None:
    data = tmp_path / "center"
    data.mkdir()
    db = data / "center.db"
    db.touch(mode=0o644)
    db.chmod(0o644)
    upgrade_to_head(f"sqlite:///{db}")
    assert _mode(db) == 0o600
