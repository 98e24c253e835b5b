"""A product's required moments and shortest recording, as the system admin sets them and as every
branch receives them with the catalogue it pulls."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.center_platform.archive_rig import ArchiveRig, archive_rig, signed_branch_request  # noqa: F401


def _branch_catalogue(archive_rig: ArchiveRig) -> dict[str, dict[str, object]]:
    r, _ = signed_branch_request(archive_rig.branch_client(), "GET", "/api/branch/v1/catalog")
    assert r.status_code == 200
    return {p["code"]: p for p in r.get_json()["products"]}


def test_branch_receives_required_markers_and_minimum_duration(archive_rig: ArchiveRig) -> None:
    before = _branch_catalogue(archive_rig)
    assert before["OPEN-1"]["required_markers"] == [] and before["OPEN-1"]["min_duration_s"] == 0

    admin = archive_rig.login("sysadmin")
    r = admin.post(
        "/api/admin/products",
        json={
            "code": "RISK-5",
            "name": "稳健五号",
            "type_code": "OPEN",
            "risk_level": "R4",
            "required_markers": ["风险揭示", "客户确认", "签字"],
            "min_duration_s": 300,
        },
    )
    assert r.status_code == 201, r.get_json()
    r = admin.patch("/api/admin/products/OPEN-1", json={"required_markers": ["客户确认"], "min_duration_s": 90})
    assert r.status_code == 200, r.get_json()

    after = _branch_catalogue(archive_rig)
    assert after["RISK-5"]["required_markers"] == ["风险揭示", "客户确认", "签字"]
    assert after["RISK-5"]["min_duration_s"] == 300
    assert after["OPEN-1"]["required_markers"] == ["客户确认"] and after["OPEN-1"]["min_duration_s"] == 90
    listed = {p["code"]: p for p in admin.get("/api/admin/products").get_json()["items"]}
    assert listed["OPEN-1"]["min_duration_s"] == 90


def test_negative_minimum_duration_is_refused_naming_the_field(archive_rig: ArchiveRig) -> None:
    admin = archive_rig.login("sysadmin")
    r = admin.patch("/api/admin/products/OPEN-1", json={"min_duration_s": -5})
    assert r.status_code == 400
    assert "min_duration_s" in r.get_data(as_text=True)
    assert _branch_catalogue(archive_rig)["OPEN-1"]["min_duration_s"] == 0


def test_product_added_from_the_command_line_carries_its_terms(
    archive_rig: ArchiveRig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from center_platform.cli import main

    config = str(archive_rig.write_cli_config(tmp_path / "center.toml", monkeypatch))
    argv = ["--config", config, "product", "add", "--code", "CLI-1", "--name", "命令行产品", "--type", "OPEN"]
    assert main([*argv, "--marker", "风险揭示", "--marker", "签字", "--min-duration", "120"]) == 0
    product = _branch_catalogue(archive_rig)["CLI-1"]
    assert product["required_markers"] == ["风险揭示", "签字"] and product["min_duration_s"] == 120
