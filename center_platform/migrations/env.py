"""Alembic environment for the center database."""

from center_platform.db.models import Base
from storage.database import run_migrations

run_migrations(Base.metadata)
