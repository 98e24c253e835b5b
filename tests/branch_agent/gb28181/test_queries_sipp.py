"""Catalog query against SIPp playing the camera, over UDP and TCP on 127.0.0.1.

SIPp registers (register_and_serve.xml), then answers the platform's Catalog MESSAGE with 200
and sends the catalogue in two GB2312-encoded Response MESSAGEs (answer_catalog.xml).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from branch_agent.gb28181.devices import DeviceTable, GbPlatformConfig
from branch_agent.gb28181.platform import GbPlatform
from tests.peers.sipp_peer import MISSING_REASON, SIPP, SippCamera, SippProcess, start_sipp

pytestmark = pytest.mark.skipif(SIPP is None, reason=MISSING_REASON)

SERVER_ID = "34020000002000000001"
DOMAIN = "3402000000"
CAMERA = "34020000001320000264"
PASSWORD = "Cam#2026pass"
DEADLINE_S = 20.0


def config() -> GbPlatformConfig:
    return GbPlatformConfig(server_id=SERVER_ID, domain=DOMAIN, host="127.0.0.1", port=0, passwords={CAMERA: PASSWORD})


def registered(table: DeviceTable) -> bool:
    record = table.get(CAMERA)
    return record is not None and record.online


async def with_camera(
    tmp_path: Path,
    transport: str,
    ooc: str,
    body: Callable[[GbPlatform, SippProcess], Awaitable[None]],
) -> None:
    platform = GbPlatform(config())
    await platform.start()
    sipp = await start_sipp(
        "register_and_serve",
        SippCamera(CAMERA, SERVER_ID, DOMAIN, PASSWORD, transport),
        platform.port,
        tmp_path,
        timeout_s=DEADLINE_S,
        ooc=ooc,
    )
    try:
        await platform.wait_for(registered, DEADLINE_S)
        await body(platform, sipp)
        result = await asyncio.wait_for(sipp.finish(), DEADLINE_S + 5)
        assert result.ok, result.explain() + "\n--- messages ---\n" + sipp.messages[-6000:]
    finally:
        sipp.kill()
        await platform.stop()


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_catalog_in_two_gb2312_messages_is_aggregated(tmp_path: Path, transport: str) -> None:
    async def body(platform: GbPlatform, sipp: SippProcess) -> None:
        channels = await platform.query_catalog(CAMERA, timeout_s=DEADLINE_S)
        by_id = {c.channel_id: c for c in channels}
        assert sorted(by_id) == ["34020000001320000001", "34020000001320000002", "34020000001320000003"], sipp.messages[
            -4000:
        ]
        # GB2312 bytes from SIPp decoded to the right characters.
        assert by_id["34020000001320000001"].name == "营业厅环境摄像机"
        assert by_id["34020000001320000001"].address == "一楼大厅"
        assert by_id["34020000001320000002"].name == "柜台1号摄像机"
        assert by_id["34020000001320000003"].online is False
        assert by_id["34020000001320000001"].parent_id == CAMERA
        assert ("Owner", "Owner") in by_id["34020000001320000001"].extra
        record = platform.devices.get(CAMERA)
        assert record is not None and record.catalog_complete
        assert record.channels == tuple(channels)
        # The fourth item's ID is not 20 digits: reported, not a channel, and not a crash.
        assert [raw for raw, _ in record.invalid_channels] == ["3402000000132000000X"]
        snapshot = platform.snapshot()
        assert [d.device_id for d in snapshot.online_devices] == [CAMERA]
        assert len(snapshot.channels) == 3

    asyncio.run(with_camera(tmp_path, transport, "answer_catalog", body))
