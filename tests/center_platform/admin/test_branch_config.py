"""Central configuration at the center: settings apply at once, cameras wait for a second system admin,
no password ever reaches the center, the branch pulls by ETag and its verdict is shown and audited."""

from __future__ import annotations

import time

from sqlalchemy import select

from center_platform.db.models import AuditEvent, User
from center_platform.operations.alert_watch import sweep_conditions
from storage.contract.request_signing import sign_request
from storage.database import utcnow
from tests.center_platform.archive_rig import (  # noqa: F401
    BRANCH_CODE,
    BRANCH_SECRET,
    USER_PASSWORD,
    ArchiveRig,
    archive_rig,
    signed_branch_request,
)
from tests.password_hashes import seeded_hash

PULL = "/api/branch/v1/central-config"
REPORT = "/api/branch/v1/central-config/report"
RTSP = {"kind": "rtsp", "url": "rtsp://192.0.2.10:554/main", "username": "viewer", "password_env": "CAM_C01"}


def _second_admin(rig: ArchiveRig) -> None:
    with rig.sessions() as db:
        db.add(
            User(
                username="sysadmin2", display_name="二号", role="system_admin", password_hash=seeded_hash(USER_PASSWORD)
            )
        )
        db.commit()


def _actions(rig: ArchiveRig, prefix: str) -> list[AuditEvent]:
    with rig.sessions() as db:
        return list(db.execute(select(AuditEvent).where(AuditEvent.action.startswith(prefix))).scalars())


def test_without_central_settings_the_branch_gets_version_zero(archive_rig: ArchiveRig) -> None:
    r, _ = signed_branch_request(archive_rig.branch_client(), "GET", PULL)
    assert r.status_code == 200
    assert r.get_json()["version"] == 0 and r.get_json()["counters"] == []


def test_settings_apply_at_once_and_the_branch_pulls_them_by_etag(archive_rig: ArchiveRig) -> None:
    admin = archive_rig.login("sysadmin")
    body = {
        "upload": {"window_start": "20:00", "window_end": "06:00", "bandwidth_mbit": 8},
        "limits": {"min_free_gb": 50},
    }
    r = admin.put(f"/api/admin/branch-config/{BRANCH_CODE}/settings", json=body)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["config"]["version"] == 1
    assert admin.put(f"/api/admin/branch-config/{BRANCH_CODE}/settings", json=body).get_json()["config"]["version"] == 1

    branch = archive_rig.branch_client()
    first, _ = signed_branch_request(branch, "GET", PULL)
    assert first.get_json()["upload"]["window_start"] == "20:00" and first.get_json()["limits"]["min_free_gb"] == 50
    etag = first.headers["ETag"]
    headers = sign_request(BRANCH_CODE, BRANCH_SECRET, "GET", PULL, b"", int(time.time())).as_dict()
    again = branch.get(PULL, headers={**headers, "If-None-Match": etag})
    assert again.status_code == 304
    [line] = _actions(archive_rig, "branch_config.changed")
    assert line.actor == "sysadmin" and '"window_start": "20:00"' in line.detail


def test_cameras_wait_for_a_second_system_admin(archive_rig: ArchiveRig) -> None:
    _second_admin(archive_rig)
    admin = archive_rig.login("sysadmin")
    r = admin.put(
        f"/api/admin/branch-config/{BRANCH_CODE}/cameras", json={"counters": [{"code": "C01", "environment": RTSP}]}
    )
    assert r.status_code == 202, r.get_json()
    change = r.get_json()["pending"]["id"]
    assert r.get_json()["config"]["version"] == 0  # nothing changed yet
    assert admin.post(f"/api/admin/pending-changes/{change}/approve").status_code == 403
    approved = archive_rig.login("sysadmin2").post(f"/api/admin/pending-changes/{change}/approve")
    assert approved.status_code == 200, approved.get_json()
    pulled, _ = signed_branch_request(archive_rig.branch_client(), "GET", PULL)
    assert pulled.get_json()["version"] == 1
    assert pulled.get_json()["counters"][0]["environment"]["url"] == RTSP["url"]
    [line] = _actions(archive_rig, "branch_config.changed")
    assert '"approved_by": "sysadmin2"' in line.detail


def test_no_password_reaches_the_center(archive_rig: ArchiveRig) -> None:
    admin = archive_rig.login("sysadmin")
    url = f"/api/admin/branch-config/{BRANCH_CODE}/cameras"
    with_password = {**RTSP, "password": "hunter2"}
    r = admin.put(url, json={"counters": [{"code": "C01", "environment": with_password}]})
    assert r.status_code == 400 and "password_env" in r.get_json()["error"]
    in_url = {**RTSP, "url": "rtsp://viewer:hunter2@192.0.2.10/main"}
    r = admin.put(url, json={"counters": [{"code": "C01", "environment": in_url}]})
    assert r.status_code == 400 and "地址中不得含密码" in r.get_json()["error"]
    r = admin.put(url, json={"counters": [{"code": "C99", "environment": RTSP}]})
    assert r.status_code == 400 and "no counter C99" in r.get_json()["error"]
    assert "hunter2" not in str([e.detail for e in _actions(archive_rig, "")])


def test_the_branch_verdict_is_shown_and_a_refusal_audited(archive_rig: ArchiveRig) -> None:
    admin = archive_rig.login("sysadmin")
    admin.put(f"/api/admin/branch-config/{BRANCH_CODE}/settings", json={"upload": {"window_start": "25:00"}})
    refusal = {
        "version": 1,
        "state": "refused",
        "applied_version": 0,
        "reason": "upload.window_start: '25:00' is not a HH:MM time",
    }
    r, _ = signed_branch_request(archive_rig.branch_client(), "POST", REPORT, refusal)
    assert r.status_code == 200, r.get_json()
    signed_branch_request(archive_rig.branch_client(), "POST", REPORT, refusal)  # the same verdict again
    item = admin.get(f"/api/admin/branch-config/{BRANCH_CODE}").get_json()
    assert item["report"]["state"] == "refused" and "HH:MM" in item["report"]["reason"]
    assert item["in_effect"] is False
    assert len(_actions(archive_rig, "branch_config.refused")) == 1
    page = admin.get(f"/branch-config/{BRANCH_CODE}").get_data(as_text=True)
    assert 'data-state="refused"' in page and "is not a HH:MM time" in page
    bad, _ = signed_branch_request(archive_rig.branch_client(), "POST", REPORT, {"version": 1, "state": "maybe"})
    assert bad.status_code == 400
    # The operations alert sweep sees the refusal, and no longer once the branch runs the version.
    with archive_rig.sessions() as db:
        refused = [c for c in sweep_conditions(db, utcnow()) if c.kind == "config_refused"]
    assert [c.subject for c in refused] == [f"{BRANCH_CODE}/central-config"] and "HH:MM" in refused[0].message
    applied = {"version": 1, "state": "applied", "applied_version": 1, "reason": ""}
    signed_branch_request(archive_rig.branch_client(), "POST", REPORT, applied)
    with archive_rig.sessions() as db:
        assert not [c for c in sweep_conditions(db, utcnow()) if c.kind == "config_refused"]
    assert archive_rig.login("compliance").get("/branch-config").status_code == 403
