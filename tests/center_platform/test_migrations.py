"""Migrations build the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select

from center_platform.db.engine import make_engine, upgrade_to_head
from center_platform.db.models import AuditHead, Base


def _for_this_dialect(dialect: str):  # type: ignore[no-untyped-def]
    """Alembic compares every model index; one declared for another dialect only (ddl_if) is not expected here."""

    def include(obj, name, type_, reflected, compare_to):  # type: ignore[no-untyped-def]
        only = getattr(getattr(obj, "_ddl_if", None), "dialect", None)
        return not (type_ == "index" and not reflected and only is not None and only != dialect)

    return include


def test_upgrade_empty_database_to_head_matches_models(db_url: str) -> None:
    upgrade_to_head(db_url)
    engine = make_engine(db_url)
    with engine.connect() as conn:
        opts = {"compare_type": True, "include_object": _for_this_dialect(conn.dialect.name)}
        diff = compare_metadata(MigrationContext.configure(conn, opts=opts), Base.metadata)
        assert diff == [], f"models and migrations differ: {diff}"
        head = conn.execute(select(AuditHead)).one()
        assert head.last_hash == "0" * 64 and head.count == 0
    upgrade_to_head(db_url)  # a second upgrade is a no-op
    engine.dispose()


def test_branch_spool_migrations_match_models(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from branch_agent.db.engine import MIGRATIONS_DIR
    from branch_agent.db.models import Base as SpoolBase
    from storage.database import upgrade_to_head as upgrade

    url = f"sqlite:///{tmp_path / 'branch.db'}"
    upgrade(url, MIGRATIONS_DIR)
    engine = make_engine(url)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), SpoolBase.metadata) == []
