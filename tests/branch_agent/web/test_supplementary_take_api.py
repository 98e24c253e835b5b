"""A sale recorded after the fact (补录) through the counter's API: refused without its reason or time of
sale, with each field named; recorded with them, it says so in its signed manifest and on the picture."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select

from branch_agent.db.models import Clip
from storage.manifest import ClipManifest
from tests.branch_agent.web.harness import COUNTER, GOOD_SALE, RM_A, Agent, sign_in


def test_a_supplementary_take_needs_its_reason_and_time_of_sale(agent: Agent) -> None:
    client = agent.client()
    csrf = sign_in(client, RM_A)
    url = f"/api/counters/{COUNTER}/recording"
    sale = {**GOOD_SALE, "business_serial": "SN-SUPP-1", "origin": "supplementary"}
    r = client.post(url, json=sale, headers=csrf)
    assert r.status_code == 422
    fields = r.get_json()["fields"]
    assert set(fields) == {"supplementary_reason", "sale_time"}
    assert fields["supplementary_reason"].startswith("请填写补录原因")
    assert agent.svc.counters[COUNTER].active_clip is None
    with agent.svc.sessions() as db:
        assert db.execute(select(Clip)).first() is None  # nothing was started, nothing kept

    tz = ZoneInfo(agent.config.branch.timezone)
    sold = (datetime.now(tz) - timedelta(days=2)).replace(second=0, microsecond=0)
    r = client.post(
        url,
        json={**sale, "supplementary_reason": "原录像设备故障", "sale_time": sold.strftime("%Y-%m-%dT%H:%M")},
        headers=csrf,
    )
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["origin"] == "supplementary"
    time.sleep(1.5)
    done = client.post(f"{url}/complete", headers=csrf)
    assert done.status_code == 200, done.get_json()
    with agent.svc.sessions() as db:
        clip = db.execute(select(Clip)).scalar_one()
    manifest = ClipManifest.parse(Path(clip.manifest_path or "").read_bytes())
    assert manifest.origin == "supplementary" and manifest.supplementary is not None
    assert manifest.supplementary.reason == "原录像设备故障"
    assert manifest.supplementary.sale_at == sold.astimezone(UTC)
    listed = client.get("/api/clips").get_json()["clips"]
    assert [c["origin"] for c in listed] == ["supplementary"]
