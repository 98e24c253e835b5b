"""A registered GB/T 28181 device (a raw-socket camera on 127.0.0.1) is asked for its Catalog and its
DeviceInfo; its manufacturer, model and firmware are what the heartbeat reports for the device view."""

from __future__ import annotations

import asyncio

from branch_agent.gb28181.manscdp import parse_manscdp
from branch_agent.gb28181.platform import GbPlatform
from branch_agent.gb28181.queries import DeviceInfo
from branch_agent.gb28181.service import query_catalogs
from tests.branch_agent.gb28181.test_queries import CAMERA, catalog_body, run
from tests.peers.raw_gb_camera import RawCamera


def test_catalog_then_device_info_of_each_registered_device() -> None:
    learnt: dict[str, DeviceInfo] = {}

    async def body(platform: GbPlatform, camera: RawCamera) -> None:
        task = asyncio.create_task(query_catalogs(platform, timeout_s=5, on_info=learnt.__setitem__))
        try:
            catalog = await camera.recv_request("MESSAGE")
            await camera.answer(catalog, 200, "OK")
            sn = parse_manscdp(catalog.body).sn
            await camera.send_manscdp(catalog_body(sn, 1, [("34020000001320000001", "柜台1")]))
            info = await camera.recv_request("MESSAGE")
            assert parse_manscdp(info.body).cmd_type == "DeviceInfo"
            await camera.answer(info, 200, "OK")
            await camera.send_manscdp(
                (
                    '<?xml version="1.0" encoding="GB2312"?>\r\n<Response>\r\n<CmdType>DeviceInfo</CmdType>\r\n'
                    f"<SN>{parse_manscdp(info.body).sn}</SN>\r\n<DeviceID>{CAMERA}</DeviceID>\r\n"
                    "<Result>OK</Result>\r\n<Manufacturer>Hikvision</Manufacturer>\r\n<Model>DS-7808N</Model>\r\n"
                    "<Firmware>V4.30</Firmware>\r\n</Response>\r\n"
                ).encode("gb2312")
            )
            for _ in range(100):
                if CAMERA in learnt:
                    break
                await asyncio.sleep(0.05)
        finally:
            task.cancel()
        got = learnt[CAMERA]
        assert (got.manufacturer, got.model, got.firmware) == ("Hikvision", "DS-7808N", "V4.30")

    asyncio.run(run(body))
