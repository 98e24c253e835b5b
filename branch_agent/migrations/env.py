"""Alembic environment for the branch spool database."""

from branch_agent.db.models import Base
from storage.database import run_migrations

run_migrations(Base.metadata)
