"""GB/T 28181 devices and channels in the counter status API and in the heartbeat the center stores."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from branch_agent.center_link.heartbeat import build_heartbeat, send_heartbeat
from branch_agent.gb28181.devices import Channel, GbPlatformConfig, Transport
from branch_agent.gb28181.service import GbPlatformRunner, platform_report
from center_platform.db.models import BranchHeartbeat
from storage.contract.heartbeat import Heartbeat
from storage.database import utcnow
from tests.branch_agent.web.harness import COUNTER, RM_A, seed, sign_in, start_agent, write_config
from tests.live_center import LiveCenter, branch_agent_for, live_center  # noqa: F401
from tests.peers.sipp_peer import MISSING_REASON, SIPP, SippCamera, start_sipp

SERVER_ID = "34020000002000000001"
DOMAIN = "3402000000"
CAMERA = "34020000001320000264"
CHANNEL = "34020000001320000001"
PASSWORD = "Cam#2026pass"
ENV = 'environment = { kind = "synthetic", width = 1920, height = 1080, fps = 25, label = "环境 ENV" }'


def _until(predicate, timeout_s: float = 15.0, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.mark.skipif(SIPP is None, reason=MISSING_REASON)
def test_counter_status_and_heartbeat_list_the_gb_device(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRANCH_API_SECRET", "test-branch-secret")
    monkeypatch.setenv("GB_TEST_PASSWORD", PASSWORD)
    path = write_config(tmp_path)
    text = path.read_text(encoding="utf-8")
    section = (
        f'[gb28181]\nserver_id = "{SERVER_ID}"\ndomain = "{DOMAIN}"\nhost = "127.0.0.1"\nport = 0\n'
        # SIPp's out-of-call scenario answers the INVITE only, not a Catalog query.
        'password_env = "GB_TEST_PASSWORD"\nquery_catalog = false\n\n'
    )
    text = text.replace("[[counters]]", section + "[[counters]]", 1).replace(
        ENV, f'environment = {{ kind = "gb28181", device_id = "{CAMERA}", channel_id = "{CHANNEL}" }}'
    )
    path.write_text(text, encoding="utf-8")
    agent = start_agent(path, open_sources=True)
    seed(agent.svc)
    runner = agent.svc.gb28181
    assert runner is not None and runner.platform is not None, "the agent starts its SIP server"

    async def register_and_check() -> None:
        assert runner.platform is not None
        sipp = await start_sipp(
            "register_and_serve",
            SippCamera(CAMERA, SERVER_ID, DOMAIN, PASSWORD),
            runner.platform.port,
            tmp_path,
            timeout_s=30,
            ooc="answer_invite",
            keys={"cam_media_port": "15060", "media_proto": "RTP/AVP", "setup_line": "a=framerate:25"},
        )
        try:
            # Registered, and the counter's camera INVITEd its channel (no media: SIPp sends none).
            while not (runner.snapshot() and runner.snapshot().sessions):  # type: ignore[union-attr]
                await asyncio.sleep(0.05)
            await asyncio.to_thread(check)
            await asyncio.to_thread(agent.svc.close)  # BYE: SIPp's scenario ends
            result = await asyncio.wait_for(sipp.finish(), 10)
            assert result.ok, result.explain()
        finally:
            sipp.kill()

    def check() -> None:
        client = agent.client()
        sign_in(client, RM_A)
        status = client.get(f"/api/counters/{COUNTER}/status").get_json()
        gb = status["gb28181"]
        assert gb["server_id"] == SERVER_ID and gb["running"]
        [device] = gb["devices"]
        assert device["device_id"] == CAMERA and device["online"] and device["transport"] == "UDP"
        assert device["address"].startswith("127.0.0.1:") and device["user_agent"] == "SIPp GB28181 camera"
        [session] = gb["sessions"]
        assert (session["device_id"], session["channel_id"], session["transport"]) == (CAMERA, CHANNEL, "udp")
        env = status["sources"][0]
        assert env["role"] == "environment" and env["kind"] == "gb28181" and not env["connected"]
        assert f"GB/T 28181 {CAMERA}/{CHANNEL}; device registered over UDP" in env["detail"]
        assert "playing since" in env["detail"] and env["problem"]  # no media yet
        beat = build_heartbeat(agent.svc, utcnow())
        again = Heartbeat.model_validate_json(beat.model_dump_json())  # what the center parses
        assert again.gb28181 is not None and [d.device_id for d in again.gb28181.devices] == [CAMERA]
        assert again.counters[0].sources[0].kind == "gb28181"

    try:
        asyncio.run(register_and_check())
    finally:
        agent.svc.close()
    assert runner.platform is None


def test_center_stores_the_gb_block_of_the_heartbeat(live_center: LiveCenter, branch_agent_for) -> None:  # type: ignore[no-untyped-def]
    agent = branch_agent_for()
    runner = GbPlatformRunner(GbPlatformConfig(SERVER_ID, DOMAIN, host="127.0.0.1", port=0, default_password="x"))
    agent.svc.gb28181 = runner
    platform = runner.ensure_started()

    async def enrol() -> None:
        # As the registrar records a device that registered and answered a Catalog query.
        now = time.monotonic()
        platform.devices.register(
            CAMERA, Transport.TCP, ("10.1.2.31", 5060), f"sip:{CAMERA}@10.1.2.31:5060", 3600, now, "IPC-X"
        )
        platform.devices.set_channels(CAMERA, (Channel(CHANNEL, name="理财室1号 环境", status="ON"),))

    runner.call(enrol(), 2)
    assert send_heartbeat(agent.svc).ok
    with live_center.sessions() as db:
        row = db.execute(select(BranchHeartbeat)).scalar_one()
    gb = json.loads(row.payload_json)["gb28181"]
    assert gb["server_id"] == SERVER_ID and gb["running"] and gb["sessions"] == []
    [device] = gb["devices"]
    assert (device["device_id"], device["online"], device["transport"], device["address"]) == (
        CAMERA,
        True,
        "TCP",
        "10.1.2.31:5060",
    )
    assert device["channels"] == [{"channel_id": CHANNEL, "name": "理财室1号 环境", "status": "ON"}]
    runner.stop()
    report = platform_report(runner)
    assert report is not None and not report.running and report.devices == []


@pytest.mark.skipif(SIPP is None, reason=MISSING_REASON)
def test_a_device_is_asked_for_its_catalog_when_it_registers(tmp_path: Path) -> None:
    runner = GbPlatformRunner(
        GbPlatformConfig(SERVER_ID, DOMAIN, host="127.0.0.1", port=0, passwords={CAMERA: PASSWORD})
    )
    platform = runner.ensure_started()

    async def register() -> None:
        # answer_catalog.xml: SIPp answers the Catalog query with four items in two MESSAGEs.
        sipp = await start_sipp(
            "register_and_serve",
            SippCamera(CAMERA, SERVER_ID, DOMAIN, PASSWORD),
            platform.port,
            tmp_path,
            timeout_s=20,
            ooc="answer_catalog",
        )
        try:
            result = await asyncio.wait_for(sipp.finish(), 25)
            assert result.ok, result.explain()
        finally:
            sipp.kill()

    try:
        asyncio.run(register())
        _until(
            lambda: bool((r := platform_report(runner)) and r.devices and r.devices[0].channels), what="the catalogue"
        )
        report = platform_report(runner)
        assert report is not None
        [device] = report.devices
        assert device.device_id == CAMERA and len(device.channels) == 3  # the fourth item's ID is not 20 digits
        assert all(len(c.channel_id) == 20 for c in device.channels)
    finally:
        runner.stop()
