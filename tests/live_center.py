"""A real center (Flask app behind waitress on 127.0.0.1, real database, real SeaweedFS) and a branch
agent configured to talk to it, for the branch–center sync and heartbeat tests.

Import the fixtures into a test module: `from tests.live_center import branch_agent_for, live_center`.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from flask import Flask
from waitress import create_server

from branch_agent.config import ENV_API_SECRET
from center_platform.app import create_app
from center_platform.config import CenterConfig
from center_platform.db.models import Branch, Counter, Product, ProductType, Staff, User
from storage.object_store import ObjectStore
from storage.signing import SigningKey
from tests.branch_agent.web.harness import Agent, start_agent, write_config
from tests.http_serving import stop_server
from tests.password_hashes import seeded_hash

BRANCH_CODE = "B001"  # as in configs/branch.example.toml
BRANCH_SECRET = "live-center-branch-secret"
RM_CODE, RM_PASSWORD = "1000001", "rm-pass-2026"
ADMIN_CODE, ADMIN_PASSWORD = "1000002", "admin-pass-2026"
CENTER_USERS = {"sysadmin": "system_admin", "compliance": "compliance_officer", "auditor": "auditor"}
CENTER_PASSWORD = "center-pass-2026"


@dataclass
class LiveCenter:
    app: Flask
    url: str
    _server: object
    _thread: threading.Thread

    @property
    def sessions(self):  # type: ignore[no-untyped-def]
        return self.app.extensions["center"].sessions

    def stop(self) -> None:
        """The center goes away as a WAN cut would make it: nothing listens any more."""
        stop_server(self._server, self._thread)

    def login(self, username: str) -> requests.Session:
        s = requests.Session()
        r = s.post(self.url + "/api/session", json={"username": username, "password": CENTER_PASSWORD}, timeout=10)
        assert r.status_code == 200, r.text
        return s


def _seed(app: Flask) -> None:
    with app.extensions["center"].sessions() as db:
        branch = Branch(
            code=BRANCH_CODE,
            name="演示支行",
            timezone="Asia/Shanghai",
            api_secret=BRANCH_SECRET,
            signing_public_key=SigningKey.generate().public_key_b64,
        )
        db.add(branch)
        ptype = ProductType(code="FIXED", name="固定期限", retention_rule="fixed_term")
        db.add(ptype)
        db.flush()
        db.add(Counter(branch_id=branch.id, code="C01", name="C01"))
        db.add(
            Product(
                code="FX180",
                name="稳盈180天",
                product_type_id=ptype.id,
                term_days=180,
                risk_level="R2",
                disclosure_script="理财非存款，产品有风险，投资须谨慎。",
            )
        )
        db.add(
            Staff(
                code=RM_CODE,
                name="李经理",
                role="relationship_manager",
                branch_id=branch.id,
                password_hash=seeded_hash(RM_PASSWORD),
            )
        )
        db.add(
            Staff(
                code=ADMIN_CODE,
                name="王主管",
                role="branch_admin",
                branch_id=branch.id,
                password_hash=seeded_hash(ADMIN_PASSWORD),
            )
        )
        for username, role in CENTER_USERS.items():
            db.add(
                User(username=username, display_name=username, role=role, password_hash=seeded_hash(CENTER_PASSWORD))
            )
        db.commit()


@pytest.fixture()
def live_center(
    db_url: str, tmp_path: Path, store: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LiveCenter]:
    monkeypatch.setenv("CENTER_DATABASE_URL", db_url)
    config = CenterConfig.model_validate(
        {"server": {"data_dir": str(tmp_path / "center")}, "storage": {"part_size_mb": 5}}
    )
    app = create_app(config, store)
    _seed(app)
    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, name="center-test", daemon=True)
    thread.start()
    center = LiveCenter(app, f"http://127.0.0.1:{server.effective_port}", server, thread)
    yield center
    center.stop()
    app.extensions["center"].engine.dispose()


@pytest.fixture()
def branch_agent_for(
    live_center: LiveCenter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., Agent]]:
    """Builds the real branch agent (cameras built, not opened) pointed at the live center; spool settings overridable."""
    monkeypatch.setenv(ENV_API_SECRET, BRANCH_SECRET)
    agents: list[Agent] = []

    def build(**spool: object) -> Agent:
        where = tmp_path / f"branch{len(agents)}"
        where.mkdir()
        path = write_config(where)
        text = re.sub(
            r'url = "http://127\.0\.0\.1:\d+"', f'url = "{live_center.url}"', path.read_text(encoding="utf-8"), count=1
        )
        for key, value in spool.items():
            text, n = re.subn(rf"^{key} = .*$", f"{key} = {value}", text, count=1, flags=re.M)
            assert n == 1, f"no [spool] {key} in the example config"
        path.write_text(text, encoding="utf-8")
        agent = start_agent(path, open_sources=False)
        agents.append(agent)
        return agent

    yield build
    for agent in agents:
        agent.svc.close()
