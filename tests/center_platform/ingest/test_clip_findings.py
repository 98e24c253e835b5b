"""The check list judges at once what a clip's manifest tells about its compliance; a poor clip is
still archived and locked, its findings recorded in the ingest's audit line."""

from __future__ import annotations

import json
import secrets

from sqlalchemy import select

from center_platform.db.models import AuditEvent, Branch, Recording
from center_platform.ingest.checks import IngestContext, StoredMedia, run_checks
from storage.manifest import ClipManifest
from tests.center_platform.archive_rig import BRANCH_CODE, ArchiveRig, archive_rig, upload_clip  # noqa: F401
from tests.center_platform.ingest.quality_clips import quality_manifest, require


def _findings_of(rig: ArchiveRig, manifest: ClipManifest) -> list[str]:
    with rig.sessions() as db:
        branch = db.execute(select(Branch).where(Branch.code == BRANCH_CODE)).scalar_one()
        report = run_checks(
            IngestContext(
                manifest=manifest,
                stored=StoredMedia("clips/x.mp4", "v0", manifest.media.size, manifest.media.sha256),
                branch_id=branch.id,
                branch_code=BRANCH_CODE,
                branch_public_key=rig.key.public_key_b64,
                session=db,
                store=rig.store,
            )
        )
    assert report.passed, report.reason  # findings never quarantine
    return [f.code for f in report.findings]


def test_short_clip_missing_a_moment_is_archived_and_its_findings_are_recorded(archive_rig: ArchiveRig) -> None:
    require(archive_rig, ["风险揭示", "客户确认"], min_duration_s=60)
    media = secrets.token_bytes(3000)
    manifest = quality_manifest(archive_rig.key, media, duration_ms=20_000, markers=[("risk_disclosed", 4000)])
    outcome = upload_clip(archive_rig.branch_client(), manifest, media)

    assert outcome["state"] == "verified"
    with archive_rig.sessions() as db:
        rec = db.execute(select(Recording).where(Recording.clip_id == manifest.clip_id)).scalar_one()
        assert rec.state == "archived" and rec.quality_verdict is None  # the media analysis is still to come
        [event] = db.execute(
            select(AuditEvent).where(AuditEvent.action == "ingest.verified", AuditEvent.target == manifest.clip_id)
        ).scalars()
    notes = json.loads(event.detail)["notes"]
    assert "quality" in json.loads(event.detail)["checks"]
    [short] = [n for n in notes if n.startswith("quality too_short")]
    assert "录像时长 20 秒，短于产品要求的 60 秒" in short and "shorter than the product's 60 s" in short
    [missing] = [n for n in notes if n.startswith("quality marker_missing")]
    assert "缺少必录环节「客户确认」" in missing
    assert not any("consent_missing" in n for n in notes)
    # Searchable at once, before the media analysis: the search finds it by its finding, on its page too.
    compliance = archive_rig.login("compliance")
    found = compliance.get("/api/recordings", query_string={"finding": "too_short"}).get_json()["rows"]
    assert [r["clip_id"] for r in found] == [manifest.clip_id]


def test_an_imported_recording_is_badged_in_search_never_as_recorded(archive_rig: ArchiveRig) -> None:
    media = secrets.token_bytes(100)
    plain = quality_manifest(archive_rig.key, media, consent=False)
    imported = ClipManifest.model_validate(
        {
            **plain.model_dump(mode="json", exclude={"signature"}),
            "origin": "imported",
            "imported": {
                "original_file_name": "VID_0001.mp4",
                "device": "执法记录仪 DSJ-01",
                "reason": "双录设备故障",
                "imported_by": "1000002",
                "imported_at": plain.started_at.isoformat(),
            },
        }
    ).signed(archive_rig.key)
    assert upload_clip(archive_rig.branch_client(), imported, media)["state"] == "verified"
    recorded = archive_rig.archive(customer_name="柜台甲")
    compliance = archive_rig.login("compliance")
    page = compliance.get("/recordings", query_string={"origin": "imported"}).get_data(as_text=True)
    assert 'data-origin="imported"' in page and "外部导入" in page and "柜台甲" not in page
    page = compliance.get("/recordings", query_string={"customer_name": "柜台甲"}).get_data(as_text=True)
    assert recorded and "data-origin=" not in page


def test_each_manifest_fact_gives_its_finding(archive_rig: ArchiveRig) -> None:
    require(archive_rig, ["风险揭示", "客户确认"], min_duration_s=10)
    media = secrets.token_bytes(100)
    in_order = [("risk_disclosed", 2000), ("customer_confirmed", 5000)]
    assert (
        _findings_of(archive_rig, quality_manifest(archive_rig.key, media, duration_ms=30_000, markers=in_order)) == []
    )
    reversed_ = [("customer_confirmed", 2000), ("risk_disclosed", 5000)]
    assert _findings_of(
        archive_rig, quality_manifest(archive_rig.key, media, duration_ms=30_000, markers=reversed_)
    ) == ["marker_order"]
    assert _findings_of(archive_rig, quality_manifest(archive_rig.key, media, duration_ms=5_000, markers=in_order)) == [
        "too_short"
    ]
    no_consent = quality_manifest(archive_rig.key, media, duration_ms=30_000, markers=in_order, consent=False)
    assert _findings_of(archive_rig, no_consent) == ["consent_missing"]
    cut_off = quality_manifest(archive_rig.key, media, duration_ms=30_000, markers=in_order)
    cut_off = ClipManifest.model_validate(
        {**cut_off.model_dump(mode="json", exclude={"signature"}), "state": "interrupted"}
    ).signed(archive_rig.key)
    assert _findings_of(archive_rig, cut_off) == ["interrupted"]


def test_an_imported_recording_needs_no_consent_from_the_counter(archive_rig: ArchiveRig) -> None:
    media = secrets.token_bytes(100)
    plain = quality_manifest(archive_rig.key, media, consent=False)
    imported = ClipManifest.model_validate(
        {
            **plain.model_dump(mode="json", exclude={"signature"}),
            "origin": "imported",
            "imported": {
                "original_file_name": "VID_0001.mp4",
                "device": "执法记录仪 DSJ-01",
                "reason": "双录设备故障",
                "imported_by": "1000002",
                "imported_at": plain.started_at.isoformat(),
            },
        }
    ).signed(archive_rig.key)
    assert _findings_of(archive_rig, imported) == []
