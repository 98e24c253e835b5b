"""Products, staff and branch settings pulled from the real center with ETags; failures keep the local copy."""

from __future__ import annotations

from sqlalchemy import select

from branch_agent.center_link.heartbeat import build_heartbeat
from branch_agent.center_link.sync import RESOURCE_PATHS
from branch_agent.db.models import SyncedProduct, SyncedStaff, SyncState
from center_platform.db.models import Branch, Counter, Product
from storage.contract.branch_sync import payload_etag
from storage.database import utcnow
from tests.branch_agent.web.harness import Staff, sign_in
from tests.live_center import ADMIN_CODE, ADMIN_PASSWORD, BRANCH_CODE, LiveCenter, branch_agent_for, live_center  # noqa: F401

ADMIN = Staff(ADMIN_CODE, ADMIN_PASSWORD, "王主管", "branch_admin")


def _products(agent) -> dict[str, str]:  # type: ignore[no-untyped-def]
    with agent.svc.sessions() as db:
        return {p.code: p.name for p in db.execute(select(SyncedProduct)).scalars()}


def _etags(agent) -> dict[str, str | None]:  # type: ignore[no-untyped-def]
    with agent.svc.sessions() as db:
        return {s.resource: s.etag for s in db.execute(select(SyncState)).scalars()}


def test_sync_pulls_everything_once_then_only_what_changed(live_center: LiveCenter, branch_agent_for) -> None:  # type: ignore[no-untyped-def]
    agent = branch_agent_for()
    first = agent.svc.sync_from_center()
    assert [(o.resource, o.changed, o.error) for o in first] == [
        ("products", True, ""),
        ("staff", True, ""),
        ("branch", True, ""),
    ]
    assert _products(agent) == {"FX180": "稳盈180天"}
    with agent.svc.sessions() as db:
        assert {s.code for s in db.execute(select(SyncedStaff)).scalars()} == {"1000001", "1000002"}
    # The staff pulled from the center can sign in at the counter.
    client = agent.client()
    sign_in(client, ADMIN)
    etags = _etags(agent)
    # The stored ETag is the hash of the canonical payload the center serves.
    catalog = agent.svc.client.fetch_versioned(RESOURCE_PATHS["products"], None)
    assert catalog is not None and etags["products"] == catalog.etag == payload_etag(catalog.payload)
    # Unchanged: the center answers 304 to the stored ETag, and nothing local is rewritten.
    assert agent.svc.client.fetch_versioned(RESOURCE_PATHS["products"], etags["products"]) is None
    assert [o.changed for o in agent.svc.sync_from_center()] == [False, False, False]
    assert _etags(agent) == etags

    with live_center.sessions() as db:
        db.execute(select(Product)).scalar_one().name = "稳盈180天（第二期）"
        db.commit()
    again = agent.svc.sync_from_center()
    assert [(o.resource, o.changed) for o in again] == [("products", True), ("staff", False), ("branch", False)]
    assert _products(agent) == {"FX180": "稳盈180天（第二期）"}
    assert _etags(agent)["products"] != etags["products"]
    # The counter's product list shows the new name.
    assert [p["name"] for p in client.get("/api/products").get_json()["products"]] == ["稳盈180天（第二期）"]


def test_failed_sync_keeps_the_local_copy_and_says_so(live_center: LiveCenter, branch_agent_for) -> None:  # type: ignore[no-untyped-def]
    agent = branch_agent_for()
    agent.svc.sync_from_center()
    etags = _etags(agent)
    live_center.stop()
    outcomes = agent.svc.sync_from_center()
    assert all(o.error and "unreachable" in o.error for o in outcomes), outcomes
    assert _products(agent) == {"FX180": "稳盈180天"} and _etags(agent) == etags
    client = agent.client()
    sign_in(client, ADMIN)  # the synced staff list still works without the center
    sync = {s["resource"]: s for s in client.get("/api/admin/overview").get_json()["sync"]}
    assert all("unreachable" in sync[r]["error"] and sync[r]["synced_at"] for r in ("products", "staff", "branch"))
    alerts = build_heartbeat(agent.svc, utcnow()).alerts
    assert {a.code for a in alerts} == {"sync_failed"} and len(alerts) == 3


def test_center_branch_settings_are_shown_and_a_mismatch_reported_not_applied(
    live_center: LiveCenter, branch_agent_for
) -> None:  # type: ignore[no-untyped-def]
    with live_center.sessions() as db:
        branch = db.execute(select(Branch).where(Branch.code == BRANCH_CODE)).scalar_one()
        branch.name = "中心登记名称"
        db.add(Counter(branch_id=branch.id, code="C02", name="C02"))
        db.commit()
    agent = branch_agent_for()
    agent.svc.sync_from_center()
    client = agent.client()
    sign_in(client, ADMIN)
    overview = client.get("/api/admin/overview").get_json()
    assert overview["center_branch"] == {
        "code": BRANCH_CODE,
        "name": "中心登记名称",
        "timezone": "Asia/Shanghai",
        "counters": [{"code": "C01", "name": "C01"}, {"code": "C02", "name": "C02"}],
    }
    mismatches = overview["config_mismatches"]
    assert len(mismatches) == 2
    assert "演示支行" in mismatches[0] and "中心登记名称" in mismatches[0]
    assert "C02" in mismatches[1]
    # The file stays authoritative: the agent still runs under its own name and counters.
    assert overview["branch"]["name"] == "演示支行" and list(agent.svc.counters) == ["C01"]
    alerts = build_heartbeat(agent.svc, utcnow()).alerts
    assert [a.code for a in alerts] == ["config_mismatch", "config_mismatch"]
