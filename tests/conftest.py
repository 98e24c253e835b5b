"""Shared fixtures: a real SeaweedFS, and the machine's PostgreSQL in a database of its own."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from storage.endpoint import S3Endpoint
from storage.object_store import ObjectStore
from storage.seaweed import SeaweedServer, SeaweedSettings
from tests.postgres import fresh_postgres_database

POSTGRES_ADMIN_URL = os.environ.get("DR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    server = SeaweedServer(SeaweedSettings(data_dir=tmp_path_factory.mktemp("seaweed"), bucket="evidence-test"))
    server.start()
    # No default lock on the shared test bucket: expiry tests lock objects for seconds, not days.
    ObjectStore(server.endpoint).ensure_evidence_bucket(default_lock_days=0)  # type: ignore[arg-type]
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_endpoint(seaweed: SeaweedServer) -> S3Endpoint:
    assert seaweed.endpoint is not None
    return seaweed.endpoint


@pytest.fixture()
def store(s3_endpoint: S3Endpoint) -> ObjectStore:
    return ObjectStore(s3_endpoint)


def _postgres_reachable() -> str | None:
    try:
        engine = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except OperationalError as exc:
        return str(exc).splitlines()[0]


@pytest.fixture(scope="session")
def postgres_server() -> str:
    problem = _postgres_reachable()
    if problem:
        pytest.skip(f"no PostgreSQL answers at {POSTGRES_ADMIN_URL} (set DR_TEST_POSTGRES_URL): {problem}")
    return POSTGRES_ADMIN_URL


@pytest.fixture()
def postgres_url(postgres_server: str) -> Iterator[str]:
    with fresh_postgres_database(postgres_server) as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'center.db'}"
    return str(request.getfixturevalue("postgres_url"))
