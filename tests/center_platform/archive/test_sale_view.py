"""The center's player shows the whole sale: who sold what where, the customer's identifiers masked
by role, the chapters, gaps and findings, signature and chain, retention, how the clip came about and
the other clips of the same sale; its JSON says the same and each viewing is audited."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime

from sqlalchemy import select

from center_platform.db.models import AuditEvent, Branch, Staff
from storage.manifest import ClipManifest
from tests.center_platform.archive_rig import BRANCH_CODE, ArchiveRig, archive_rig, upload_clip  # noqa: F401
from tests.center_platform.ingest.quality_clips import quality_manifest, require
from tests.password_hashes import seeded_hash

SALE_AT = datetime(2026, 11, 30, 2, 15, tzinfo=UTC)  # 10:15 in Shanghai


def _manager(rig: ArchiveRig) -> None:
    with rig.sessions() as db:
        branch = db.execute(select(Branch).where(Branch.code == BRANCH_CODE)).scalar_one()
        db.add(
            Staff(
                code="1000001",
                name="赵经理",
                role="relationship_manager",
                branch_id=branch.id,
                password_hash=seeded_hash("x" * 8),
            )
        )
        db.commit()


def _archive(rig: ArchiveRig, manifest: ClipManifest, media: bytes) -> str:
    assert upload_clip(rig.branch_client(), manifest, media)["state"] == "verified"
    return manifest.clip_id


def _sale(rig: ArchiveRig) -> tuple[str, str]:
    """A first clip with a dropped desk camera and a missing moment, and its supplementary follow-up."""
    require(rig, ["风险揭示", "客户确认"], min_duration_s=30)
    _manager(rig)
    media = secrets.token_bytes(1500)
    first = quality_manifest(
        rig.key,
        media,
        duration_ms=40_000,
        markers=[("risk_disclosed", 5000)],
        gaps=[("desk-cam", 12_000, 3000)],
        id_type="resident_id",
        id_number="11010519491231002X",
    )
    first_id = _archive(rig, first, media)
    media = secrets.token_bytes(1500)
    again = quality_manifest(
        rig.key, media, duration_ms=40_000, markers=[("risk_disclosed", 5000), ("customer_confirmed", 20_000)]
    )
    data = again.model_dump(mode="json", exclude={"signature"})
    data.update(
        origin="supplementary",
        earlier_clip_id=first_id,
        prev_manifest_sha256=first.manifest_sha256(),
        supplementary={"reason": "首次录像缺少客户确认", "sale_at": SALE_AT.isoformat()},
    )
    second = ClipManifest.model_validate(data).signed(rig.key)
    return first_id, _archive(rig, second, media)


def test_the_player_shows_the_whole_sale(archive_rig: ArchiveRig) -> None:
    first, second = _sale(archive_rig)
    officer = archive_rig.login("compliance")
    page = officer.get(f"/recordings/{first}").get_data(as_text=True)
    for shown in (
        "天天开放 (OPEN-1)",  # product
        "赵经理 (1000001)",  # manager, name and code
        "测试支行 (B009) · 理财室1号柜台 (C01)",  # branch and counter
        "11010519491231002X",  # in full for a compliance officer
        "6222021234567890128",
        "风险揭示 Risk disclosed",  # a chapter
        "信号中断（desk-cam）",  # the gap on the timeline
        "缺少必录环节「客户确认」",  # a finding, Chinese first
        "依据录像清单的初步结果",  # not yet analysed
        "网点签名已验证",
        "链首",
        "现场录制 / recorded",
    ):
        assert shown in page, shown
    assert page.index("缺少必录环节「客户确认」") < page.index("required moment “客户确认” is missing")
    assert f'href="/recordings/{second}"' in page  # the later clip of the same sale

    page = officer.get(f"/recordings/{second}").get_data(as_text=True)
    assert "事后补录 / supplementary" in page and "首次录像缺少客户确认" in page
    assert "2026-11-30 10:15:00" in page  # when the sale took place, in the center's time zone
    assert f'href="/recordings/{first}"' in page

    admin = archive_rig.login("b009admin")
    page = admin.get(f"/recordings/{first}").get_data(as_text=True)
    assert "1101**********002X" in page and "11010519491231002X" not in page
    assert "622202*********0128" in page

    sale = admin.get(f"/api/recordings/{second}/sale").get_json()
    assert sale["origin"] == "supplementary" and sale["earlier"]["clip_id"] == first and sale["earlier"]["openable"]
    assert [c["label"] for c in sale["chapters"]] == ["风险揭示 Risk disclosed", "客户确认 Customer confirmed"]
    assert sale["quality_verdict"] is None and sale["quality_preliminary"] is True
    assert sale["staff_name"] == "赵经理" and sale["kept_through"] and sale["chain_status"] == "linked"
    with archive_rig.sessions() as db:
        viewed = db.execute(
            select(AuditEvent.actor, AuditEvent.target, AuditEvent.detail).where(
                AuditEvent.action == "recording.viewed"
            )
        ).all()
    assert [(a, t, json.loads(d)["unmasked"]) for a, t, d in viewed] == [
        ("compliance", first, True),
        ("compliance", second, True),
        ("b009admin", first, False),
        ("b009admin", second, False),
    ]


def test_another_branchs_admin_sees_nothing_of_the_sale(archive_rig: ArchiveRig) -> None:
    first, _ = _sale(archive_rig)
    other = archive_rig.login("b010admin")
    assert other.get(f"/api/recordings/{first}/sale").status_code == 403
    assert other.get(f"/recordings/{first}").status_code == 403
