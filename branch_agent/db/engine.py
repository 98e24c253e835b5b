"""The branch spool database: SQLite on the branch disk, migrated to head at start-up."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from storage import database

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def open_spool_db(url: str) -> sessionmaker[Session]:
    # Sales, customers and the clip index: the database and the branch data directory it lives in
    # are the agent's alone.
    database.private_sqlite_file(url, own_directory=True)
    database.upgrade_to_head(url, MIGRATIONS_DIR)
    return database.make_session_factory(database.make_engine(url))
