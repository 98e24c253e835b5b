"""Supplementary recordings at the center: archived as such, listed to compliance as pending, approved
or rejected with a reason (by compliance here, or by the branch admin through the branch API), audited;
a supplementary manifest without its reason is refused."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from center_platform.db.models import AuditEvent
from storage.contract.supplementary import DECISIONS
from storage.manifest import ClipManifest, Supplementary
from tests.center_platform.archive_rig import (  # noqa: F401
    ArchiveRig,
    archive_rig,
    clip_manifest,
    signed_branch_request,
    upload_clip,
)


def supplementary_clip(
    rig: ArchiveRig, serial: str, sale_at: datetime, recorded_at: datetime, reason: str = "录像中断，事后补录"
) -> str:
    """A supplementary recording through the real upload protocol; returns its clip id."""
    media = secrets.token_bytes(4096)
    plain = clip_manifest(rig.key, media, started_at=recorded_at, business_serial=serial)
    manifest = plain.model_copy(
        update={
            "origin": "supplementary",
            "supplementary": Supplementary(reason=reason, sale_at=sale_at),
            "signature": None,
        }
    ).signed(rig.key)
    outcome = upload_clip(rig.branch_client(), manifest, media)
    assert outcome["state"] == "verified", outcome
    return manifest.clip_id


def _actions(rig: ArchiveRig, clip_id: str) -> list[str]:
    with rig.sessions() as db:
        return list(
            db.execute(select(AuditEvent.action).where(AuditEvent.target == clip_id).order_by(AuditEvent.id)).scalars()
        )


def test_compliance_approves_a_supplementary_recording(archive_rig: ArchiveRig) -> None:
    rig = archive_rig
    sale_at = datetime.now(UTC) - timedelta(days=2)
    clip_id = supplementary_clip(rig, "SN-SUPP-1", sale_at, sale_at + timedelta(days=1))
    rig.archive(business_serial="SN-PLAIN-1")

    compliance = rig.login("compliance")
    found = compliance.get("/api/recordings", query_string={"business_serial": "SN-SUPP-1"}).get_json()["rows"]
    assert [(r["origin"], r["origin_label"]) for r in found] == [("supplementary", "事后补录 / supplementary")]

    only = compliance.get("/api/recordings", query_string={"origin": "supplementary"}).get_json()["rows"]
    assert [(r["clip_id"], r["approval"]) for r in only] == [(clip_id, "pending")]
    assert compliance.get("/api/recordings", query_string={"origin": "other"}).status_code == 400
    listed = compliance.get("/api/supplementary", query_string={"state": "pending"}).get_json()["rows"]
    assert [(r["business_serial"], r["why_supplementary"]) for r in listed] == [("SN-SUPP-1", "录像中断，事后补录")]
    assert datetime.fromisoformat(listed[0]["sale_at"]) == sale_at
    page = compliance.get("/supplementary")
    assert page.status_code == 200 and "SN-SUPP-1" in page.get_data(as_text=True)

    # A decision needs its reason.
    r = compliance.post(f"/api/supplementary/{clip_id}/decision", json={"decision": "approved", "reason": " "})
    assert r.status_code == 422 and r.get_json()["error"].startswith("请填写审批意见")
    r = compliance.post(f"/api/supplementary/{clip_id}/decision", json={"decision": "approved", "reason": "已核实"})
    assert r.status_code == 200 and r.get_json()["state"] == "approved"
    assert compliance.get("/api/supplementary", query_string={"state": "pending"}).get_json()["rows"] == []
    [done] = compliance.get("/api/supplementary", query_string={"state": "approved"}).get_json()["rows"]
    assert done["decided"]["decided_by"] == "compliance" and done["decided"]["reason"] == "已核实"
    assert "supplementary.approved" in _actions(rig, clip_id)
    [found_again] = compliance.get("/api/recordings", query_string={"origin": "supplementary"}).get_json()["rows"]
    assert found_again["approval_label"] == "已批准 / approved"

    # A clip recorded at the sale needs no approval; other roles cannot decide.
    plain = compliance.get("/api/recordings", query_string={"business_serial": "SN-PLAIN-1"}).get_json()
    plain_id = plain["rows"][0]["clip_id"]
    r = compliance.post(f"/api/supplementary/{plain_id}/decision", json={"decision": "approved", "reason": "x"})
    assert r.status_code == 409
    admin = rig.login("b009admin")
    r = admin.post(f"/api/supplementary/{clip_id}/decision", json={"decision": "rejected", "reason": "x"})
    assert r.status_code == 403
    assert rig.login("auditor").get("/supplementary").status_code in (302, 403)


def test_the_branch_admins_decision_reaches_the_center(archive_rig: ArchiveRig) -> None:
    rig = archive_rig
    sale_at = datetime.now(UTC) - timedelta(days=1)
    clip_id = supplementary_clip(rig, "SN-SUPP-2", sale_at, sale_at + timedelta(hours=3))
    decision = {
        "clip_id": clip_id,
        "business_serial": "SN-SUPP-2",
        "decision": "rejected",
        "reason": "客户未在录像中确认 / customer did not confirm on camera",
        "decided_by": "1000002",
        "decided_at": datetime.now(UTC).isoformat(),
    }
    client = rig.branch_client()
    r, _ = signed_branch_request(client, "POST", DECISIONS, {"decisions": [decision]})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["outcomes"] == [{"clip_id": clip_id, "outcome": "taken", "state": "rejected", "detail": ""}]
    # Sent again (the branch did not hear the answer): still one decision.
    r, _ = signed_branch_request(client, "POST", DECISIONS, {"decisions": [decision]})
    assert r.get_json()["outcomes"][0]["outcome"] == "taken"
    compliance = rig.login("compliance")
    [row] = compliance.get("/api/supplementary", query_string={"state": "rejected"}).get_json()["rows"]
    assert row["decided"]["decided_as"] == "branch_admin" and row["decided"]["decided_by"] == "1000002"
    assert _actions(rig, clip_id).count("supplementary.rejected") == 1

    # Compliance overrules; a later branch decision is kept in the trail only.
    r = compliance.post(f"/api/supplementary/{clip_id}/decision", json={"decision": "approved", "reason": "复核通过"})
    assert r.get_json()["state"] == "approved"
    later = {**decision, "decision": "rejected", "decided_at": datetime.now(UTC).isoformat()}
    r, _ = signed_branch_request(client, "POST", DECISIONS, {"decisions": [later]})
    assert r.get_json()["outcomes"][0] == {
        "clip_id": clip_id,
        "outcome": "overruled",
        "state": "approved",
        "detail": "",
    }
    assert "supplementary.branch_decision_overruled" in _actions(rig, clip_id)

    # Unsigned, it is refused; a clip that is not the branch's supplementary one is refused by name.
    assert client.post(DECISIONS, json={"decisions": [decision]}).status_code == 401
    plain = rig.archive()
    r, _ = signed_branch_request(client, "POST", DECISIONS, {"decisions": [{**decision, "clip_id": plain}]})
    assert r.get_json()["outcomes"][0]["outcome"] == "refused"


def test_a_supplementary_manifest_without_its_reason_is_refused(archive_rig: ArchiveRig) -> None:
    rig = archive_rig
    media = secrets.token_bytes(2048)
    signed = clip_manifest(rig.key, media)
    body = json.loads(signed.canonical_bytes())
    for broken in (
        {**body, "origin": "supplementary"},
        {**body, "origin": "supplementary", "supplementary": {"reason": "", "sale_at": body["started_at"]}},
    ):
        r, _ = signed_branch_request(rig.branch_client(), "POST", "/api/branch/v1/uploads", {"manifest": broken})
        assert r.status_code in (400, 422), r.get_json()
    with pytest.raises(ValueError):
        ClipManifest.model_validate({**body, "origin": "supplementary"})
