"""Search by the quality check's verdict and by a kind of finding; the verdict in the result list."""

from __future__ import annotations

import csv
import io
import secrets

import pytest

from center_platform.archive.clip_quality import quality_work_dir, run_quality_checks
from center_platform.config import QualitySection
from tests.center_platform.archive.quality_media import cjk_font_path, record_sale
from tests.center_platform.archive_rig import ArchiveRig, archive_rig, upload_clip  # noqa: F401
from tests.center_platform.ingest.quality_clips import quality_manifest


@pytest.fixture(scope="module")
def sale_clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return record_sale(tmp_path_factory.mktemp("sale") / "sale.mp4", cjk_font_path())


@pytest.fixture()
def checked(archive_rig: ArchiveRig, sale_clip: bytes) -> dict[str, str]:
    """A good sale (pass), bytes that are no clip (fail: unreadable), and one archived after the check."""
    manifest = quality_manifest(archive_rig.key, sale_clip, duration_ms=8000)
    assert upload_clip(archive_rig.branch_client(), manifest, sale_clip)["state"] == "verified"
    broken = archive_rig.archive(secrets.token_bytes(2048), customer_name="坏文件")
    run = run_quality_checks(
        archive_rig.sessions, archive_rig.store, QualitySection(), quality_work_dir(archive_rig.config)
    )
    assert run.checked == {manifest.clip_id: "pass", broken: "fail"}
    later = archive_rig.archive(customer_name="晚到")
    return {"good": manifest.clip_id, "broken": broken, "later": later}


def _found(client, **params: str) -> list[str]:  # type: ignore[no-untyped-def]
    r = client.get("/api/recordings", query_string=params)
    assert r.status_code == 200, r.get_json()
    return sorted(row["clip_id"] for row in r.get_json()["rows"])


def test_search_by_verdict_and_by_finding(archive_rig: ArchiveRig, checked: dict[str, str]) -> None:
    officer = archive_rig.login("compliance")
    assert _found(officer, quality="pass") == [checked["good"]]
    assert _found(officer, quality="fail") == [checked["broken"]]
    assert _found(officer, quality="unchecked") == [checked["later"]]
    assert _found(officer, finding="unreadable") == [checked["broken"]]
    assert _found(officer, finding="unreadable", quality="pass") == []
    assert _found(officer, finding="no_face") == []
    rows = {r["clip_id"]: r for r in officer.get("/api/recordings").get_json()["rows"]}
    assert rows[checked["good"]]["quality_verdict"] == "pass"
    assert rows[checked["later"]]["quality_label"] == "未检 not yet checked"

    r = officer.get("/api/recordings", query_string={"quality": "maybe"})
    assert r.status_code == 400 and "quality must be one of" in r.get_json()["error"]
    r = officer.get("/api/recordings", query_string={"finding": "bad_hair"})
    assert r.status_code == 400 and "finding must be one of" in r.get_json()["error"]


def test_the_result_page_and_list_show_the_verdict(archive_rig: ArchiveRig, checked: dict[str, str]) -> None:
    officer = archive_rig.login("compliance")
    page = officer.get("/recordings", query_string={"finding": "unreadable"}).get_data(as_text=True)
    assert "坏文件" in page and "不合格 fail" in page and "晚到" not in page
    assert '<option value="unreadable" selected>' in page
    text = officer.get("/api/recordings/export.csv", query_string={"quality": "pass"}).get_data().decode("utf-8")
    rows = list(csv.reader(io.StringIO(text[1:])))
    assert rows[0][16] == "质检 Quality" and [r[16] for r in rows[1:]] == ["合格 pass"]
