"""Catalog / DeviceInfo / DeviceStatus queries against a raw-socket camera on 127.0.0.1:
GB2312 and GB18030 bodies, Responses that overtake the 200, duplicates, late and foreign SNs,
partial catalogues on timeout, UDP retransmission and TCP."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable

import pytest

from branch_agent.gb28181.devices import GbPlatformConfig, Transport
from branch_agent.gb28181.manscdp import parse_manscdp
from branch_agent.gb28181.platform import GbPlatform
from branch_agent.gb28181.queries import CatalogIncomplete, QueryError, QueryRefused, QueryTimeout
from tests.peers.raw_gb_camera import RawCamera

SERVER_ID = "34020000002000000001"
DOMAIN = "3402000000"
CAMERA = "34020000001110000001"  # an NVR (type 111) with several cameras
T1_S = 0.05  # a short Timer A so retransmission shows within the test; the rule is the same


def catalog_body(
    sn: int,
    sum_num: int,
    items: list[tuple[str, str]],
    encoding: str = "GB2312",
    codec: str = "gb2312",
    device_id: str = CAMERA,
) -> bytes:
    xml_items = "".join(
        f"<Item>\r\n<DeviceID>{cid}</DeviceID>\r\n<Name>{name}</Name>\r\n<Manufacturer>海康威视</Manufacturer>\r\n"
        f"<Status>ON</Status>\r\n<ParentID>{CAMERA}</ParentID>\r\n<Longitude>117.2</Longitude>\r\n"
        f"<Info><PTZType>1</PTZType></Info>\r\n</Item>\r\n"
        for cid, name in items
    )
    text = (
        f'<?xml version="1.0" encoding="{encoding}"?>\r\n<Response>\r\n<CmdType>Catalog</CmdType>\r\n'
        f"<SN>{sn}</SN>\r\n<DeviceID>{device_id}</DeviceID>\r\n<SumNum>{sum_num}</SumNum>\r\n"
        f'<DeviceList Num="{len(items)}">\r\n{xml_items}</DeviceList>\r\n</Response>\r\n'
    )
    return text.encode(codec)


async def run(body: Callable[[GbPlatform, RawCamera], Awaitable[None]], transport: Transport = Transport.UDP) -> None:
    platform = GbPlatform(
        GbPlatformConfig(server_id=SERVER_ID, domain=DOMAIN, host="127.0.0.1", port=0, default_password="x"), t1_s=T1_S
    )
    await platform.start()
    camera = RawCamera(platform, CAMERA, transport)
    try:
        await camera.attach()
        await body(platform, camera)
    finally:
        camera.close()
        await platform.stop()


async def receive_query(camera: RawCamera, cmd_type: str) -> tuple[int, object]:
    query = await camera.recv_request("MESSAGE")
    message = parse_manscdp(query.body, query.get("Content-Type"))
    assert (message.root, message.cmd_type, message.device_id) == ("Query", cmd_type, CAMERA)
    assert query.get("Content-Type") == "Application/MANSCDP+xml"
    assert query.body.startswith(b'<?xml version="1.0" encoding="GB2312"?>')
    return message.sn, query


@pytest.mark.parametrize("transport", [Transport.UDP, Transport.TCP])
def test_catalog_over_three_messages_out_of_order_with_noise(transport: Transport) -> None:
    async def body(platform: GbPlatform, camera: RawCamera) -> None:
        task = asyncio.create_task(platform.query_catalog(CAMERA, timeout_s=5))
        sn, query = await receive_query(camera, "Catalog")
        # The first Response overtakes the 200 to the query (cameras answer from another thread).
        part1 = catalog_body(sn, 4, [("34020000001320000001", "营业厅环境摄像机")], "GB2312", "gb2312")
        assert (await camera.send_manscdp(part1)).status == 200
        await camera.answer(query, 200, "OK")  # type: ignore[arg-type]
        # Another query's SN and another device's answer are not ours: answered, ignored.
        assert (await camera.send_manscdp(catalog_body(sn + 1, 1, [("34020000001320000009", "别的")]))).status == 200
        other = catalog_body(sn, 1, [("34020000001320000008", "别的")], device_id="34020000001320000777")
        assert (await camera.send_manscdp(other)).status == 200
        # GB18030-only characters (䶮) in a body that declares GB18030; one item repeated.
        part2 = catalog_body(
            sn,
            4,
            [("34020000001320000001", "营业厅环境摄像机"), ("34020000001320000002", "柜台䶮号")],
            "GB18030",
            "gb18030",
        )
        assert (await camera.send_manscdp(part2)).status == 200
        assert not task.done()
        # A camera that declares GB2312 but sends UTF-8, and an ID that is not 20 digits.
        part3 = catalog_body(sn, 4, [("34020000001320000003", "理财室"), ("1234", "坏")], "GB2312", "utf-8")
        assert (await camera.send_manscdp(part3)).status == 200
        channels = await asyncio.wait_for(task, 5)
        assert [(c.channel_id, c.name) for c in channels] == [
            ("34020000001320000001", "营业厅环境摄像机"),
            ("34020000001320000002", "柜台䶮号"),
            ("34020000001320000003", "理财室"),
        ]
        first = channels[0]
        assert first.manufacturer == "海康威视" and first.online and first.parent_id == CAMERA
        assert ("Longitude", "117.2") in first.extra
        record = platform.devices.get(CAMERA)
        assert record is not None and record.catalog_complete
        assert [raw for raw, _ in record.invalid_channels] == ["1234"]
        assert "exactly 20 digits" in record.invalid_channels[0][1]

    asyncio.run(run(body, transport))


def test_catalog_timeout_keeps_what_arrived() -> None:
    async def body(platform: GbPlatform, camera: RawCamera) -> None:
        task = asyncio.create_task(platform.query_catalog(CAMERA, timeout_s=0.5))
        sn, query = await receive_query(camera, "Catalog")
        await camera.answer(query, 200, "OK")  # type: ignore[arg-type]
        await camera.send_manscdp(catalog_body(sn, 3, [("34020000001320000001", "大厅")]))
        with pytest.raises(CatalogIncomplete, match=r"1 of 3 catalogue items arrived") as caught:
            await task
        assert [c.channel_id for c in caught.value.channels] == ["34020000001320000001"]
        assert caught.value.expected == 3
        record = platform.devices.get(CAMERA)
        assert record is not None and not record.catalog_complete
        assert [c.name for c in record.channels] == ["大厅"]
        # The rest arriving late is answered 200 but changes nothing.
        assert (await camera.send_manscdp(catalog_body(sn, 3, [("34020000001320000002", "迟到")]))).status == 200
        assert len(platform.devices.get(CAMERA).channels) == 1  # type: ignore[union-attr]

    asyncio.run(run(body))


def test_empty_catalog_completes_at_once() -> None:
    async def body(platform: GbPlatform, camera: RawCamera) -> None:
        task = asyncio.create_task(platform.query_catalog(CAMERA, timeout_s=5))
        sn, query = await receive_query(camera, "Catalog")
        await camera.answer(query, 200, "OK")  # type: ignore[arg-type]
        await camera.send_manscdp(catalog_body(sn, 0, []))
        assert await asyncio.wait_for(task, 5) == []

    asyncio.run(run(body))


def test_device_info_and_status_asked_together_match_by_cmdtype_and_sn() -> None:
    async def body(platform: GbPlatform, camera: RawCamera) -> None:
        info_task = asyncio.create_task(platform.query_device_info(CAMERA, timeout_s=5))
        status_task = asyncio.create_task(platform.query_device_status(CAMERA, timeout_s=5))
        queries = {}
        for _ in range(2):
            query = await camera.recv_request("MESSAGE")
            message = parse_manscdp(query.body)
            queries[message.cmd_type] = (message.sn, query)
            await camera.answer(query, 200, "OK")
        status_sn = queries["DeviceStatus"][0]
        info_sn = queries["DeviceInfo"][0]
        # Answered in the opposite order to the asking.
        await camera.send_manscdp(
            (
                '<?xml version="1.0" encoding="GB2312"?>\r\n<Response>\r\n<CmdType>DeviceStatus</CmdType>\r\n'
                f"<SN>{status_sn}</SN>\r\n<DeviceID>{CAMERA}</DeviceID>\r\n<Result>OK</Result>\r\n"
                "<Online>ONLINE</Online>\r\n<Status>OK</Status>\r\n<Encode>ON</Encode>\r\n<Record>OFF</Record>\r\n"
                '<DeviceTime>2026-12-01T10:00:00</DeviceTime>\r\n<Alarmstatus Num="1">\r\n<Item>\r\n'
                "<DeviceID>34020000001340000001</DeviceID>\r\n<DutyStatus>OFFDUTY</DutyStatus>\r\n</Item>\r\n"
                "</Alarmstatus>\r\n</Response>\r\n"
            ).encode("gb2312")
        )
        await camera.send_manscdp(
            (
                '<?xml version="1.0" encoding="GB2312"?>\r\n<Response>\r\n<CmdType>DeviceInfo</CmdType>\r\n'
                f"<SN>{info_sn}</SN>\r\n<DeviceID>{CAMERA}</DeviceID>\r\n<DeviceName>柜台录像机</DeviceName>\r\n"
                "<Result>OK</Result>\r\n<Manufacturer>Hikvision</Manufacturer>\r\n<Model>DS-7808N</Model>\r\n"
                "<Firmware>V4.30</Firmware>\r\n<Channel>8</Channel>\r\n</Response>\r\n"
            ).encode("gb2312")
        )
        info = await asyncio.wait_for(info_task, 5)
        status = await asyncio.wait_for(status_task, 5)
        assert (info.name, info.manufacturer, info.model, info.firmware, info.channel_count, info.result) == (
            "柜台录像机",
            "Hikvision",
            "DS-7808N",
            "V4.30",
            8,
            "OK",
        )
        assert status.working and status.encode == "ON" and status.record == "OFF"
        assert status.device_time == "2026-12-01T10:00:00"
        assert status.alarms == (("34020000001340000001", "OFFDUTY"),)

    asyncio.run(run(body))


def test_query_is_retransmitted_over_udp_until_answered() -> None:
    async def body(platform: GbPlatform, camera: RawCamera) -> None:
        task = asyncio.create_task(platform.query_device_info(CAMERA, timeout_s=5))
        first = await camera.recv_request("MESSAGE")
        again = await camera.recv_request("MESSAGE", timeout_s=1)  # Timer A: T1 later
        assert again.serialize() == first.serialize()
        await camera.answer(first, 200, "OK")
        # After the final answer no more copies come (one already in flight may still land).
        quiet = [await camera.silent_for(6 * T1_S) for _ in range(2)]
        assert quiet[-1], quiet
        sn = parse_manscdp(first.body).sn
        await camera.send_manscdp(
            (
                f"<Response><CmdType>DeviceInfo</CmdType><SN>{sn}</SN><DeviceID>{CAMERA}</DeviceID>"
                "<Result>OK</Result></Response>"
            ).encode()
        )
        assert (await asyncio.wait_for(task, 5)).result == "OK"

    asyncio.run(run(body))


def test_query_over_tcp_is_not_retransmitted() -> None:
    async def body(platform: GbPlatform, camera: RawCamera) -> None:
        task = asyncio.create_task(platform.query_device_status(CAMERA, timeout_s=0.6))
        await camera.recv_request("MESSAGE")
        assert await camera.silent_for(0.4)
        with pytest.raises(QueryTimeout, match=r"no answer to the query MESSAGE within 0\.6 s"):
            await task

    asyncio.run(run(body, Transport.TCP))


def test_refused_and_impossible_queries_raise_clear_errors() -> None:
    async def body(platform: GbPlatform, camera: RawCamera) -> None:
        task = asyncio.create_task(platform.query_device_info(CAMERA, timeout_s=5))
        query = await camera.recv_request("MESSAGE")
        await camera.answer(query, 403, "Forbidden")
        with pytest.raises(QueryRefused, match="403 Forbidden") as caught:
            await task
        assert caught.value.status == 403
        with pytest.raises(QueryError, match="not registered"):
            await platform.query_catalog("34020000001320000999")
        platform.devices.unregister(CAMERA, "unregistered")
        with pytest.raises(QueryError, match=re.escape("offline (unregistered)")):
            await platform.query_device_status(CAMERA)

    asyncio.run(run(body))


def test_response_without_200_to_the_query_still_answers_it_at_once() -> None:
    async def body(platform: GbPlatform, camera: RawCamera) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        task = asyncio.create_task(platform.query_device_info(CAMERA, timeout_s=5))
        sn, _ = await receive_query(camera, "DeviceInfo")
        # The camera's 200 to our MESSAGE is lost; its Response MESSAGE arrives anyway.
        await camera.send_manscdp(
            (
                f"<Response><CmdType>DeviceInfo</CmdType><SN>{sn}</SN><DeviceID>{CAMERA}</DeviceID>"
                "<Result>OK</Result><DeviceName>NVR</DeviceName></Response>"
            ).encode()
        )
        assert (await asyncio.wait_for(task, 5)).name == "NVR"
        assert loop.time() - started < 2
        # The query is settled, so its retransmissions stop (one may already be in flight).
        quiet = [await camera.silent_for(6 * T1_S) for _ in range(2)]
        assert quiet[-1], quiet

    asyncio.run(run(body))
