"""A registered device is bound to where it authenticated: its address and port over UDP, its
connection over TCP. Keepalives, query answers and INVITE answers that claim the device from
anywhere else are refused or ignored, and a captured REGISTER cannot be replayed. Real sockets;
a second camera with the same device ID plays the attacker on the branch LAN."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from branch_agent.gb28181.devices import DeviceRecord, GbPlatformConfig, Transport
from branch_agent.gb28181.manscdp import parse_manscdp
from branch_agent.gb28181.platform import GbPlatform
from branch_agent.gb28181.sdp import parse_sdp
from tests.peers.gb_device.sip_camera import SipCamera

SERVER_ID = "34020000002000000001"
DOMAIN = "3402000000"
CAMERA = "34020000001320000264"
OTHER = "34020000001320000265"
CHANNEL = "34020000001320000001"
PASSWORD = "Cam#2026pass"
T1_S = 0.05


def config(qop: bool = True) -> GbPlatformConfig:
    return GbPlatformConfig(
        server_id=SERVER_ID, domain=DOMAIN, host="127.0.0.1", port=0, default_password=PASSWORD, digest_qop=qop
    )


@asynccontextmanager
async def platform_with(qop: bool = True) -> AsyncIterator[tuple[GbPlatform, Callable[..., SipCamera]]]:
    platform = GbPlatform(config(qop), t1_s=T1_S)
    await platform.start()
    cameras: list[SipCamera] = []

    def camera(device_id: str = CAMERA, transport: Transport = Transport.UDP, local_ip: str = "127.0.0.1") -> SipCamera:
        cam = SipCamera(
            platform.port,
            device_id,
            server_id=SERVER_ID,
            domain=DOMAIN,
            password=PASSWORD,
            transport=transport,
            local_ip=local_ip,
        )
        cameras.append(cam)
        return cam

    try:
        yield platform, camera
    finally:
        for cam in cameras:
            cam.close()
        await platform.stop()


def run(body: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(body())


def record(platform: GbPlatform, device_id: str = CAMERA) -> DeviceRecord:
    found = platform.devices.get(device_id)
    assert found is not None
    return found


# -- item 1: MESSAGEs only from where the device registered --------------------------------------


@pytest.mark.parametrize("intruder_ip", ["127.0.0.1", "127.0.0.2"], ids=["same-host-other-port", "other-host"])
def test_udp_keepalive_from_elsewhere_is_refused_and_moves_nothing(intruder_ip: str) -> None:
    async def body() -> None:
        async with platform_with() as (platform, camera):
            cam = camera()
            assert (await cam.register()).status == 200
            before = record(platform)
            assert before.address == ("127.0.0.1", cam.port)

            intruder = camera(local_ip=intruder_ip)
            refused = await intruder.keepalive()
            assert refused.status == 403, refused
            after = record(platform)
            # Still reached at the registered address; the forged keepalive did not count as life.
            assert after.address == ("127.0.0.1", cam.port)
            assert after.last_keepalive is None and after.last_seen == before.last_seen

            assert (await cam.keepalive()).status == 200
            assert record(platform).last_keepalive is not None

    run(body)


def test_tcp_keepalive_on_another_connection_is_refused() -> None:
    async def body() -> None:
        async with platform_with() as (platform, camera):
            cam = camera(transport=Transport.TCP)
            assert (await cam.register()).status == 200
            intruder = camera(transport=Transport.TCP)
            assert (await intruder.keepalive()).status == 403
            assert record(platform).address == ("127.0.0.1", cam.port)
            assert record(platform).last_keepalive is None
            assert (await cam.keepalive()).status == 200

    run(body)


def test_keepalive_over_udp_for_a_device_registered_over_tcp_is_refused() -> None:
    async def body() -> None:
        async with platform_with() as (platform, camera):
            cam = camera(transport=Transport.TCP)
            assert (await cam.register()).status == 200
            intruder = camera(transport=Transport.UDP)
            assert (await intruder.keepalive()).status == 403
            assert record(platform).transport is Transport.TCP

    run(body)


# -- item 3: query answers only from the queried device's registered address --------------------


def _info(sn: int, device_id: str, name: str) -> bytes:
    return (
        f"<Response><CmdType>DeviceInfo</CmdType><SN>{sn}</SN><DeviceID>{device_id}</DeviceID>"
        f"<Result>OK</Result><DeviceName>{name}</DeviceName></Response>"
    ).encode()


@pytest.mark.parametrize("intruder_ip", ["127.0.0.1", "127.0.0.2"], ids=["same-host-other-port", "other-host"])
def test_query_answer_from_elsewhere_in_the_devices_name_is_not_taken(intruder_ip: str) -> None:
    async def body() -> None:
        async with platform_with() as (platform, camera):
            cam = camera()
            assert (await cam.register()).status == 200
            task = asyncio.create_task(platform.query_device_info(CAMERA, timeout_s=5))
            query = await cam.recv_request("MESSAGE")
            sn = parse_manscdp(query.body).sn
            # The attacker somehow has the SN and answers first.
            intruder = camera(local_ip=intruder_ip)
            assert (await intruder.message(_info(sn, CAMERA, "forged"))).status == 403
            await asyncio.sleep(0.05)
            assert not task.done()
            await cam.answer(query, 200, "OK")
            assert (await cam.message(_info(sn, CAMERA, "real"))).status == 200
            assert (await asyncio.wait_for(task, 5)).name == "real"

    run(body)


def test_query_answer_from_another_registered_device_is_not_taken() -> None:
    async def body() -> None:
        async with platform_with() as (platform, camera):
            cam = camera()
            other = camera(OTHER)
            assert (await cam.register()).status == 200
            assert (await other.register()).status == 200
            task = asyncio.create_task(platform.query_device_info(CAMERA, timeout_s=5))
            query = await cam.recv_request("MESSAGE")
            sn = parse_manscdp(query.body).sn
            # A registered device (its own MESSAGEs are welcome) answers for the queried one.
            assert (await other.message(_info(sn, CAMERA, "forged"))).status == 200
            await asyncio.sleep(0.05)
            assert not task.done()
            await cam.answer(query, 200, "OK")
            assert (await cam.message(_info(sn, CAMERA, "real"))).status == 200
            assert (await asyncio.wait_for(task, 5)).name == "real"

    run(body)


# -- the INVITE's answer decides where media is accepted from: only the device may give it -------


ANSWER = (
    "v=0\r\no={user} 0 0 IN IP4 {host}\r\ns=Play\r\nc=IN IP4 {host}\r\n"
    "t=0 0\r\nm=video 15060 RTP/AVP 96\r\na=sendonly\r\na=rtpmap:96 PS/90000\r\ny={ssrc}\r\n"
)


def test_invite_answer_from_another_address_is_ignored() -> None:
    async def body() -> None:
        async with platform_with() as (platform, camera):
            cam = camera()
            assert (await cam.register()).status == 200
            task = asyncio.create_task(
                platform.invite(CAMERA, CHANNEL, media_host="127.0.0.1", media_port=30000, timeout_s=5)
            )
            invite = await cam.recv_request("INVITE")
            ssrc = parse_sdp(invite.body).ssrc
            intruder = camera(local_ip="127.0.0.2")
            forged = ANSWER.format(user=CHANNEL, host="127.0.0.2", ssrc=ssrc).encode()
            await intruder.answer(invite, 200, "OK", forged, "application/sdp")
            await asyncio.sleep(0.1)
            assert not task.done()
            real = ANSWER.format(user=CHANNEL, host="127.0.0.1", ssrc=ssrc).encode()
            await cam.answer(invite, 200, "OK", real, "application/sdp")
            session = await asyncio.wait_for(task, 5)
            assert session.media.remote_host == "127.0.0.1"
            assert session.media.allowed_sources == ("127.0.0.1",)

    run(body)


# -- item 4: a captured REGISTER cannot be replayed ---------------------------------------------


@pytest.mark.parametrize("qop", [True, False], ids=["qop-auth", "no-qop"])
@pytest.mark.parametrize("intruder_ip", ["127.0.0.1", "127.0.0.2"], ids=["same-host-other-port", "other-host"])
def test_replayed_register_is_challenged_and_the_device_stays_put(qop: bool, intruder_ip: str) -> None:
    async def body() -> None:
        async with platform_with(qop) as (platform, camera):
            cam = camera()
            assert (await cam.register()).status == 200
            captured = cam.last_authorization
            assert captured is not None
            before = record(platform)

            intruder = camera(local_ip=intruder_ip)
            await intruder.send(intruder.register_request(captured))
            answer = await intruder.recv_response()
            assert answer.status == 401, answer
            assert "stale=true" not in (answer.get("WWW-Authenticate") or "")
            after = record(platform)
            assert after.address == before.address and after.registered_at == before.registered_at

            # The camera itself sending the very same credentials again (new transaction) is a replay too.
            await cam.send(cam.register_request(captured))
            assert (await cam.recv_response()).status == 401

    run(body)


def test_refresh_with_the_next_nc_on_the_same_nonce_is_accepted() -> None:
    async def body() -> None:
        async with platform_with(qop=True) as (platform, camera):
            cam = camera()
            assert (await cam.register()).status == 200
            first = record(platform).registered_at
            assert (await cam.register_again()).status == 200  # nc=2, same nonce
            assert record(platform).registered_at >= first

    run(body)


def test_without_qop_a_nonce_serves_once_and_the_refresh_is_challenged_again() -> None:
    async def body() -> None:
        async with platform_with(qop=False) as (_, camera):
            cam = camera()
            assert (await cam.register()).status == 200
            again = await cam.register_again()
            assert again.status == 401
            assert (await cam.register()).status == 200

    run(body)
