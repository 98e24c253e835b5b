"""The center database: engine, sessions and migration to head."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config

from storage import database
from storage.database import make_engine, make_session_factory

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"

__all__ = ["MIGRATIONS_DIR", "alembic_config", "make_engine", "make_session_factory", "upgrade_to_head"]


def alembic_config(url: str) -> Config:
    return database.alembic_config(url, MIGRATIONS_DIR)


def upgrade_to_head(url: str) -> None:
    database.upgrade_to_head(url, MIGRATIONS_DIR)
