"""Central configuration from a real center to a real branch agent: applied without a restart and
reported, with a real RTSP camera (GStreamer) as the counter's new environment camera; a bad version is
refused with its reason shown at the center while the running configuration stays."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from branch_agent.center_link.central_config import CentralConfigRefused, central_config_status, merged_config
from branch_agent.config import load_branch_config
from branch_agent.services import build_services
from branch_agent.spool.clip_manifest import SaleInfo
from center_platform.db.models import User
from storage.contract.central_config import CentralConfig, CentralCounter, CentralUpload
from tests.branch_agent.web.harness import Agent, Staff, sign_in, write_config
from tests.live_center import (  # noqa: F401
    ADMIN_CODE,
    ADMIN_PASSWORD,
    BRANCH_CODE,
    CENTER_PASSWORD,
    LiveCenter,
    branch_agent_for,
    live_center,
)
from tests.password_hashes import seeded_hash
from tests.peers.rtsp_peer import RtspPeer, unavailable_reason

CAMERA_USER, CAMERA_PASSWORD = "viewer", "cam-pass 2026"
SECRET_NAME = "C01_ENV_CAMERA_PASSWORD"
SALE = SaleInfo(
    "SN-77", "王五", "resident_id", "11010519491231002X", "6222021234567890128", "FX180", "稳盈180天", "FIXED"
)


@pytest.fixture()
def rtsp_camera() -> Iterator[RtspPeer]:
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    peer = RtspPeer("--user", CAMERA_USER, "--password", CAMERA_PASSWORD)
    peer.start()
    yield peer
    peer.kill()


def _admin(center: LiveCenter, username: str) -> requests.Session:
    s = requests.Session()
    r = s.post(center.url + "/api/session", json={"username": username, "password": CENTER_PASSWORD}, timeout=10)
    assert r.status_code == 200, r.text
    s.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    return s


class CenterAdmins:
    """The first system admin proposes, a second approves (cameras need both)."""

    def __init__(self, center: LiveCenter) -> None:
        with center.sessions() as db:
            db.add(
                User(
                    username="sysadmin2",
                    display_name="二号",
                    role="system_admin",
                    password_hash=seeded_hash(CENTER_PASSWORD),
                )
            )
            db.commit()
        self.url = center.url + f"/api/admin/branch-config/{BRANCH_CODE}"
        self.first, self.second = _admin(center, "sysadmin"), _admin(center, "sysadmin2")
        self.center = center

    def settings(self, body: dict[str, Any]) -> int:
        r = self.first.put(self.url + "/settings", json=body, timeout=10)
        assert r.status_code == 200, r.text
        return int(r.json()["config"]["version"])

    def cameras(self, counters: list[dict[str, Any]]) -> int:
        r = self.first.put(self.url + "/cameras", json={"counters": counters}, timeout=10)
        assert r.status_code == 202, r.text
        change = r.json()["pending"]["id"]
        ok = self.second.post(self.center.url + f"/api/admin/pending-changes/{change}/approve", timeout=10)
        assert ok.status_code == 200, ok.text
        return int(ok.json()["version"])

    def status(self) -> dict[str, Any]:
        return dict(self.first.get(self.url, timeout=10).json())


def _rtsp(peer: RtspPeer, **extra: object) -> dict[str, object]:
    return {"kind": "rtsp", "url": peer.url, "username": CAMERA_USER, "password_env": SECRET_NAME, **extra}


def _until(check: Callable[[], bool], what: str, within_s: float = 60) -> None:
    deadline = time.monotonic() + within_s
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def test_without_central_settings_the_file_runs_as_it_is(
    live_center: LiveCenter, branch_agent_for: Callable[..., Agent]
) -> None:
    agent: Agent = branch_agent_for()
    agent.svc.sync_from_center()
    assert agent.svc.config == agent.config
    assert central_config_status(agent.svc.sessions).applied_version == 0
    status = CenterAdmins(live_center).status()
    assert status["config"]["version"] == 0 and status["report"] is None and status["in_effect"] is True


def test_a_real_camera_set_at_the_center_runs_at_the_branch_and_the_version_is_reported(
    live_center: LiveCenter,
    branch_agent_for: Callable[..., Agent],
    rtsp_camera: RtspPeer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(SECRET_NAME, CAMERA_PASSWORD)
    agent: Agent = branch_agent_for()
    admins = CenterAdmins(live_center)
    admins.settings(
        {"upload": {"window_start": "20:30", "window_end": "06:00", "bandwidth_mbit": 8}, "limits": {"min_free_gb": 3}}
    )
    version = admins.cameras([{"code": "C01", "environment": _rtsp(rtsp_camera)}])
    assert version == 2

    agent.svc.sync_from_center()
    svc = agent.svc
    # Settings at once, without a restart.
    assert svc.config.upload.window_start == "20:30" and svc.uploader.bandwidth_mbit == 8
    assert svc.disk_guard.limits.min_free_gb == 3
    # The counter's environment camera is now the RTSP camera, opened with the secret held here.
    environment = svc.sources["C01"].environment
    assert svc.counters["C01"].sources is svc.sources["C01"]
    _until(lambda: environment.health().connected and environment.health().fps > 0, "the RTSP camera delivers frames")
    assert environment.health().kind == "rtsp"

    status = admins.status()
    assert status["report"]["state"] == "applied" and status["report"]["applied_version"] == 2
    assert status["in_effect"] is True
    page = admins.first.get(live_center.url + f"/branch-config/{BRANCH_CODE}", timeout=10).text
    assert 'data-applied-version="2"' in page
    # Nothing changed since: the next sync is a 304 and reports nothing new.
    agent.svc.sync_from_center()
    assert central_config_status(svc.sessions).reported is True

    # A restart runs the version applied before the center is even asked.
    svc.close()
    again = build_services(load_branch_config(agent.config_path), open_sources=False)
    try:
        assert again.config.upload.window_start == "20:30"
        assert again.config.counter("C01").environment.kind == "rtsp"
    finally:
        again.close()


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"cameras": [{"code": "C01", "environment": {"kind": "webcam", "device": "/dev/video9"}}]}, "'webcam'"),
        ({"cameras": [{"code": "C01", "environment": {"kind": "rtsp", "url": "http://192.0.2.1/live"}}]}, "url"),
        ({"settings": {"upload": {"window_start": "07:00", "window_end": "07:00"}}}, "上传时段为空"),
        ({"settings": {"upload": {"window_start": "7pm"}}}, "is not a HH:MM time"),
        (
            {
                "cameras": [
                    {
                        "code": "C01",
                        "environment": {"kind": "rtsp", "url": "rtsp://192.0.2.1/live", "password_env": "NOT_SET_HERE"},
                    }
                ]
            },
            "set NOT_SET_HERE",
        ),
    ],
)
def test_a_bad_version_is_refused_with_the_reason_and_the_running_one_stays(
    live_center: LiveCenter,
    branch_agent_for: Callable[..., Agent],
    change: dict[str, Any],
    reason: str,
) -> None:
    agent: Agent = branch_agent_for()
    admins = CenterAdmins(live_center)
    good = admins.settings({"upload": {"window_start": "21:00", "window_end": "05:00"}})
    agent.svc.sync_from_center()
    environment = agent.svc.sources["C01"].environment
    if "cameras" in change:
        bad = admins.cameras(change["cameras"])
    else:
        bad = admins.settings(change["settings"])
    assert bad == good + 1

    agent.svc.sync_from_center()
    assert agent.svc.config.upload.window_start == "21:00" and agent.svc.config.upload.window_end == "05:00"
    assert agent.svc.sources["C01"].environment is environment
    status = admins.status()
    report = status["report"]
    assert report["state"] == "refused" and report["version"] == bad, report
    assert reason in report["reason"] and report["applied_version"] == good
    assert status["in_effect"] is False
    page = admins.first.get(live_center.url + f"/branch-config/{BRANCH_CODE}", timeout=10).text
    assert 'data-state="refused"' in page and 'data-applied-version="%d"' % good in page
    # The branch admin page says the same.
    client = agent.client()
    sign_in(client, Staff(ADMIN_CODE, ADMIN_PASSWORD, "王主管", "branch_admin"))
    local = client.get("/api/admin/overview").get_json()["central_config"]
    assert local["state"] == "refused" and local["applied_version"] == good and reason in local["reason"]


def test_a_counter_the_file_does_not_have_is_refused(tmp_path: Path) -> None:
    base = load_branch_config(write_config(tmp_path))
    with pytest.raises(CentralConfigRefused, match="counter C09 is not in this branch's file"):
        merged_config(base, CentralConfig(version=1, counters=[CentralCounter(code="C09", desk={"kind": "synthetic"})]))
    assert merged_config(base, CentralConfig(version=0)) is base
    moved = merged_config(base, CentralConfig(version=3, upload=CentralUpload(bandwidth_mbit=2.5)))
    assert moved.upload.bandwidth_mbit == 2.5 and moved.upload.window_start == base.upload.window_start


def test_new_cameras_wait_for_the_take_to_end(
    live_center: LiveCenter,
    branch_agent_for: Callable[..., Agent],
    rtsp_camera: RtspPeer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(SECRET_NAME, CAMERA_PASSWORD)
    agent: Agent = branch_agent_for()
    svc = agent.svc
    svc.sources["C01"].open()
    session = svc.counters["C01"]
    session.start("1000001", SALE)
    admins = CenterAdmins(live_center)
    admins.cameras([{"code": "C01", "environment": _rtsp(rtsp_camera)}])

    svc.sync_from_center()
    running = svc.sources["C01"].environment
    assert running.health().kind == "synthetic" and session.active_clip is not None
    report = admins.status()["report"]
    assert report["state"] == "waiting" and report["waiting_counters"] == ["C01"] and report["applied_version"] == 1
    page = admins.first.get(live_center.url + f"/branch-config/{BRANCH_CODE}", timeout=10).text
    assert 'data-state="waiting"' in page

    session.cancel("1000001", "客户改日办理")
    svc.sync_from_center()  # the center has nothing new: the waiting counter is retried all the same
    environment = svc.sources["C01"].environment
    assert environment is not running and session.sources.environment is environment
    _until(lambda: environment.health().connected and environment.health().fps > 0, "the RTSP camera delivers frames")
    assert admins.status()["report"]["state"] == "applied"
