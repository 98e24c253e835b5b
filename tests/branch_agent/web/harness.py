"""Helpers for the counter UI tests: the real agent from the example config, SQLite, synthetic cameras, seeded staff.

Staff and products are written into the branch tables exactly as a sync from the center writes them;
the center itself is not needed to sign in or record.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from branch_agent.config import BranchConfig, load_branch_config
from branch_agent.db.models import SyncedProduct, SyncedStaff
from branch_agent.services import BranchServices, build_services
from branch_agent.web.app import create_app
from tests.password_hashes import seeded_hash

REPO = Path(__file__).resolve().parents[3]
COUNTER = "C01"


@dataclass(frozen=True)
class Staff:
    code: str
    password: str
    name: str
    role: str


RM_A = Staff("1000001", "rm-a-pass-2026", "李经理", "relationship_manager")
RM_B = Staff("1000003", "rm-b-pass-2026", "赵经理", "relationship_manager")
ADMIN = Staff("1000002", "admin-pass-2026", "王主管", "branch_admin")
PRODUCT = SyncedProduct(
    code="FX180",
    name="稳盈180天",
    type_code="FIXED",
    type_name="固定期限 fixed-term",
    term_days=180,
    risk_level="R2",
    disclosure_script="理财非存款，产品有风险，投资须谨慎。\n本产品风险等级为R2（中低风险）。",
)
GOOD_SALE = {
    "business_serial": "SN20261123-0001",
    "customer_name": "张三",
    "id_type": "resident_id",
    "id_number": "11010519491231002X",
    "card_number": "6222021234567890128",
    "product_code": "FX180",
    "consent": "1",
}


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(tmp_path: Path, counter_ui: str | None = None, quality: bool = False) -> Path:
    text = (REPO / "configs" / "branch.example.toml").read_text(encoding="utf-8")
    if not quality:  # the check of each clip is a child process of its own: only where a test looks at it
        text = text.replace("[quality]\nenabled = true", "[quality]\nenabled = false")
    text = text.replace('data_dir = "../var/branch"', f'data_dir = "{tmp_path / "data"}"')
    # Nothing listens there: uploads fail fast instead of reaching someone's running demo (or the
    # example's https center). Plain http is allowed to loopback only.
    text = text.replace('url = "https://center.bank.example:8443"', f'url = "http://127.0.0.1:{_closed_port()}"')
    text = text.replace("timeout_s = 30", "timeout_s = 2")
    text = text.replace('preset = "veryfast"', 'preset = "ultrafast"')  # the machine is shared: spare CPU
    if counter_ui is not None:
        start = text.index("[counter_ui]")
        end = text.index("[quality]")
        text = text[:start] + "[counter_ui]\n" + counter_ui + "\n\n" + text[end:]
    path = tmp_path / "branch.toml"
    path.write_text(text, encoding="utf-8")
    return path


def seed(svc: BranchServices, staff: tuple[Staff, ...] = (RM_A, RM_B, ADMIN)) -> None:
    with svc.sessions() as db:
        for s in staff:
            db.add(SyncedStaff(code=s.code, name=s.name, role=s.role, password_hash=seeded_hash(s.password)))
        db.add(
            SyncedProduct(
                **{
                    c: getattr(PRODUCT, c)
                    for c in ("code", "name", "type_code", "type_name", "term_days", "risk_level", "disclosure_script")
                }
            )
        )
        db.commit()


@dataclass
class Agent:
    config_path: Path
    config: BranchConfig
    svc: BranchServices
    app: Flask

    def client(self) -> FlaskClient:
        return self.app.test_client()


def sign_in(client: FlaskClient, who: Staff) -> dict[str, str]:
    r = client.post("/api/session", json={"staff_code": who.code, "password": who.password})
    assert r.status_code == 200, r.get_json()
    return {"X-CSRF-Token": r.get_json()["csrf_token"]}


def start_agent(config_path: Path, open_sources: bool) -> Agent:
    config = load_branch_config(config_path)
    svc = build_services(config, open_sources=open_sources)
    return Agent(config_path, config, svc, create_app(svc, "test-secret-key"))
