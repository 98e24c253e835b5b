"""Several center processes on one PostgreSQL with one CENTER_SECRET_KEY: a user signed in on one is
signed in on the other, and the store scrub and the audit checkpoint run once however many try at once."""

from __future__ import annotations

import functools
import json
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import pytest
import requests
from sqlalchemy import func, select

from center_platform.app import create_app
from center_platform.audit import trail as audit
from center_platform.audit.anchor import stored_checkpoints
from center_platform.config import ENV_AUDIT_KEY, ENV_SECRET_KEY, CenterConfig
from center_platform.db.engine import make_engine, make_session_factory, upgrade_to_head
from center_platform.db.models import StoreScrubRun, User, utcnow
from center_platform.operations.store_scrub import run_scrub
from center_platform.scheduler import anchor_audit_trail
from center_platform.services import CenterServices
from storage.object_store import ObjectStore
from tests.password_hashes import seeded_hash
from tests.upload_rig import CenterProcess

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
PASSWORD = "center-pass-2026"
T = TypeVar("T")


@dataclass
class PostgresCenter(CenterProcess):
    """A real `serve` process on the shared PostgreSQL instead of its own SQLite file."""

    database_url: str = ""

    @property
    def db_url(self) -> str:
        return self.database_url


def _at_once(jobs: list[Callable[[], T]]) -> list[T]:
    """Each job on its own thread, all released at the same moment."""
    gate = threading.Barrier(len(jobs))
    results: list[T | None] = [None] * len(jobs)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        gate.wait()
        try:
            results[i] = jobs[i]()
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    return [r for r in results if r is not None]


def test_a_session_begun_on_one_center_is_valid_on_the_other(
    postgres_url: str, store: ObjectStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_SECRET_KEY, secrets.token_urlsafe(48))
    upgrade_to_head(postgres_url)
    engine = make_engine(postgres_url)
    with make_session_factory(engine)() as db:
        db.add(
            User(
                username="compliance",
                display_name="compliance",
                role="compliance_officer",
                password_hash=seeded_hash(PASSWORD),
            )
        )
        db.commit()
    engine.dispose()
    a = PostgresCenter(tmp_path / "a", store.endpoint, database_url=postgres_url)
    b = PostgresCenter(tmp_path / "b", store.endpoint, database_url=postgres_url)
    try:
        a.start()
        b.start()
        signed_in = requests.post(
            a.url + "/api/session", json={"username": "compliance", "password": PASSWORD}, timeout=30
        )
        assert signed_in.status_code == 200, signed_in.text
        cookie = "; ".join(f"{c.name}={c.value}" for c in signed_in.cookies)
        assert cookie
        on_b = requests.get(b.url + "/api/recordings", headers={"Cookie": cookie}, timeout=30)
        assert on_b.status_code == 200, on_b.text
        assert on_b.json()["rows"] == []
        anonymous = requests.get(b.url + "/api/recordings", timeout=30)
        assert anonymous.status_code in (401, 403)
    finally:
        a.kill()
        b.kill()


def test_the_store_scrub_runs_once_a_round_however_many_centers_try(postgres_url: str, store: ObjectStore) -> None:
    upgrade_to_head(postgres_url)
    engines = [make_engine(postgres_url) for _ in range(2)]
    centers = [make_session_factory(e) for e in engines]
    gap = timedelta(minutes=30)  # half the scheduler's interval, as the scheduler gives it
    try:
        for n, now in enumerate((utcnow(), utcnow() + timedelta(hours=1)), 1):
            reports = _at_once(
                [
                    functools.partial(
                        run_scrub, s, store, check_count=10, hash_count=1, list_count=10, now=now, min_gap=gap
                    )
                    for s in centers
                ]
            )
            assert sorted(r.ran for r in reports) == [False, True]
            with centers[0]() as db:
                assert db.execute(select(func.count()).select_from(StoreScrubRun)).scalar_one() == n
    finally:
        for e in engines:
            e.dispose()


def test_two_centers_anchoring_the_same_head_write_one_checkpoint(
    postgres_url: str, store: ObjectStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CENTER_DATABASE_URL", postgres_url)
    monkeypatch.setenv(ENV_AUDIT_KEY, secrets.token_urlsafe(48))
    prefix = f"audit-checkpoints/{secrets.token_hex(6)}/"
    services: list[CenterServices] = []
    for name in ("a", "b"):
        config = CenterConfig.model_validate(
            {"server": {"data_dir": str(tmp_path / name)}, "audit": {"checkpoint_prefix": prefix}}
        )
        services.append(create_app(config, store).extensions["center"])
    try:
        for round_ in range(3):
            with services[0].sessions() as db:
                audit.append(db, "test", "test.event", f"round-{round_}")
                db.commit()
            _at_once([functools.partial(anchor_audit_trail, svc) for svc in services])
        found = stored_checkpoints(store, prefix)
        keys = [c.key for c in found]
        contents = [json.dumps(c.checkpoint.__dict__, default=str) for c in found if c.checkpoint is not None]
        assert len(found) == 3 and not [c for c in found if c.problem]
        assert len(set(keys)) == len(keys) == 3  # one version of each key: no head anchored twice
        assert len(set(contents)) == 3
        assert [c.checkpoint.count for c in found if c.checkpoint] == sorted(
            c.checkpoint.count for c in found if c.checkpoint
        )
        with services[1].sessions() as db:
            assert audit.verify_chain(db) == []
    finally:
        for svc in services:
            svc.engine.dispose()
