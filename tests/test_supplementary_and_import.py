"""End to end, a real branch agent and a real center (SeaweedFS, signed requests): a supplementary recording
and an imported one are uploaded like any clip, shown for what they are in search, the branch admin's
approval reaches the center, and reconciliation and reports count the sale as covered by a supplementary
recording."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import requests
from sqlalchemy import select, update

from branch_agent.db.models import COMPLETED, Clip
from branch_agent.spool.clip_manifest import SaleInfo, build_manifest, chain_head, commit_manifest
from center_platform.db.models import Branch
from storage.manifest import Supplementary, sha256_file
from tests.branch_agent.web.harness import Agent, Staff, sign_in
from tests.branch_agent.web.test_clip_import import make_mp4
from tests.center_platform.reconciliation.ledger_rig import ledger_csv, resident_id, sale
from tests.live_center import (  # noqa: F401
    ADMIN_CODE,
    ADMIN_PASSWORD,
    BRANCH_CODE,
    CENTER_PASSWORD,
    RM_CODE,
    LiveCenter,
    branch_agent_for,
    live_center,
)

ADMIN = Staff(ADMIN_CODE, ADMIN_PASSWORD, "王主管", "branch_admin")
TZ = ZoneInfo("Asia/Shanghai")


def _supplementary_at_branch(agent: Agent, serial: str, sold_at: datetime, body: bytes) -> str:
    """A supplementary take as the counter leaves it: media in the spool, signed manifest, chained."""
    clip_id = uuid.uuid4().hex
    now = datetime.now(UTC)
    day_dir = agent.config.spool_dir / now.astimezone(TZ).strftime("%Y-%m-%d")
    day_dir.mkdir(parents=True, exist_ok=True)
    media = day_dir / f"{clip_id}.mp4"
    media.write_bytes(body)
    info = SaleInfo(serial, "张三", "resident_id", resident_id(7), "6222021234567890128", "FX180", "稳盈180天", "FIXED")
    with agent.svc.sessions() as db:
        clip = Clip(
            clip_id=clip_id,
            counter_code="C01",
            staff_code=RM_CODE,
            business_serial=serial,
            sale_json="{}",
            state=COMPLETED,
            media_path=str(media),
            started_at=now - timedelta(seconds=2),
        )
        db.add(clip)
        db.flush()
        codec = {
            "video_codec": "h264",
            "width": 320,
            "height": 240,
            "fps": 25,
            "audio_codec": "aac",
            "sample_rate": 48000,
        }
        manifest = build_manifest(
            clip,
            info,
            BRANCH_CODE,
            "completed",
            now - timedelta(seconds=2),
            now - timedelta(seconds=1),
            1000,
            media,
            codec,
            [],
            [],
            chain_head(db),
            agent.svc.key,
            sha256_file(media),
            origin="supplementary",
            supplementary=Supplementary(reason="录像中断，客户返回网点补录 / recording cut off", sale_at=sold_at),
        )
        commit_manifest(db, clip, manifest, COMPLETED)
        db.commit()
    return clip_id


def _center_login(center: LiveCenter, username: str) -> requests.Session:
    s = requests.Session()
    r = s.post(center.url + "/api/session", json={"username": username, "password": CENTER_PASSWORD}, timeout=10)
    assert r.status_code == 200, r.text
    s.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    return s


def test_supplementary_and_imported_recordings_end_to_end(
    live_center: LiveCenter,
    branch_agent_for,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    agent: Agent = branch_agent_for()
    with live_center.sessions() as db:
        db.execute(
            update(Branch).where(Branch.code == BRANCH_CODE).values(signing_public_key=agent.svc.key.public_key_b64)
        )
        db.commit()
    agent.svc.sync_from_center()
    body = make_mp4(tmp_path / "clip.mp4")

    sold_at = (datetime.now(TZ) - timedelta(days=2)).replace(hour=10, minute=0, second=0, microsecond=0)
    supp = _supplementary_at_branch(agent, "SN-E2E-SUPP", sold_at, body)

    admin = agent.client()
    csrf = sign_in(admin, ADMIN)
    recorded = (datetime.now(TZ) - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    form = {
        "business_serial": "SN-E2E-IMP",
        "customer_name": "李四",
        "id_type": "resident_id",
        "id_number": resident_id(8),
        "card_number": "6222021234567890128",
        "product_code": "FX180",
        "consent": "1",
        "counter_code": "C01",
        "staff_code": RM_CODE,
        "recorded_at": recorded,
        "device": "备用摄像机 spare camcorder",
        "reason": "双录设备故障 appliance down",
    }
    not_video = admin.post(
        "/api/admin/imports",
        data={**form, "file": (io.BytesIO(b"%PDF-1.7 not a video" * 50), "receipt.mp4")},
        headers=csrf,
        content_type="multipart/form-data",
    )
    assert not_video.status_code == 422 and not_video.get_json()["error"].startswith("文件不是可播放的MP4录像")
    imported = admin.post(
        "/api/admin/imports",
        data={**form, "file": (io.BytesIO(body), "VID_0415.mp4")},
        headers=csrf,
        content_type="multipart/form-data",
    )
    assert imported.status_code == 201, imported.get_json()
    imported_id = imported.get_json()["clip_id"]

    results = {r.clip_id: r.state for r in agent.svc.uploader.run_once()}
    assert results == {supp: "verified", imported_id: "verified"}, results

    compliance = _center_login(live_center, "compliance")
    rows = compliance.get(live_center.url + "/api/recordings", params={"branch_code": BRANCH_CODE}, timeout=10).json()
    by_clip = {r["clip_id"]: r for r in rows["rows"]}
    assert by_clip[supp]["origin_label"] == "事后补录 / supplementary"
    assert by_clip[imported_id]["origin"] == "imported" and "imported" in by_clip[imported_id]["origin_label"]
    pending = compliance.get(live_center.url + "/api/supplementary", params={"state": "pending"}, timeout=10).json()
    assert [r["clip_id"] for r in pending["rows"]] == [supp]

    # The branch admin approves at the branch; the decision reaches the center.
    listed = admin.get("/api/admin/supplementary").get_json()["clips"]
    assert [(c["clip_id"], c["state"]) for c in listed] == [(supp, "pending")]
    r = admin.post(
        f"/api/admin/supplementary/{supp}/decision", json={"decision": "approved", "reason": ""}, headers=csrf
    )
    assert r.status_code == 422 and r.get_json()["error"].startswith("请填写审批意见")
    r = admin.post(
        f"/api/admin/supplementary/{supp}/decision",
        json={"decision": "approved", "reason": "已核对销售凭证 / checked against the receipt"},
        headers=csrf,
    )
    assert r.status_code == 200 and r.get_json()["clip"]["state"] == "approved" and r.get_json()["clip"]["sent"]
    [approved] = compliance.get(
        live_center.url + "/api/supplementary", params={"state": "approved"}, timeout=10
    ).json()["rows"]
    assert (approved["clip_id"], approved["decided"]["decided_as"], approved["decided"]["decided_by"]) == (
        supp,
        "branch_admin",
        ADMIN_CODE,
    )

    # The ledger has both sales; the supplementary one is covered by a supplementary recording.
    ledger = ledger_csv(
        [
            sale("SN-E2E-SUPP", resident_id(7), sold_at, product="FX180", staff=RM_CODE, branch=BRANCH_CODE),
            sale(
                "SN-E2E-IMP",
                resident_id(8),
                datetime.now(TZ) - timedelta(hours=2),
                product="FX180",
                staff=RM_CODE,
                branch=BRANCH_CODE,
            ),
        ]
    )
    r = compliance.post(live_center.url + "/api/reconciliation/imports", files={"file": ("l.csv", ledger)}, timeout=30)
    assert r.status_code == 200, r.text
    day = sold_at.date().isoformat()
    r = compliance.post(live_center.url + "/api/reconciliation/runs", json={"day": day}, timeout=60)
    assert r.status_code == 200, r.text
    run = r.json()["runs"][0]
    assert (run["sales"], run["recorded"], run["missed"]) == (1, 0, 0)
    report = compliance.get(
        live_center.url + "/api/reports/assessment", params={"day_from": day, "day_to": day}, timeout=10
    ).json()
    assert report["supplementary"]["total"] == 1
    with agent.svc.sessions() as db:
        assert (
            json.loads(db.execute(select(Clip.sale_json).where(Clip.clip_id == imported_id)).scalar_one())[
                "business_serial"
            ]
            == "SN-E2E-IMP"
        )
