"""Live-video INVITE / ACK / BYE against SIPp playing the camera, on 127.0.0.1.

SIPp registers (register_and_serve.xml) and answers the INVITE with an out-of-call scenario:
answer_invite.xml (accept, wait for our BYE), answer_invite_then_bye.xml (accept, hang up
itself), answer_invite_busy.xml (refuse with 486). No media flows: this is signalling only.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from branch_agent.gb28181.devices import DeviceTable, GbPlatformConfig
from branch_agent.gb28181.platform import GbPlatform
from branch_agent.gb28181.play import PlayError, PlaySession
from branch_agent.gb28181.sdp import MediaTransport
from tests.peers.sipp_peer import MISSING_REASON, SIPP, SippCamera, SippResult, start_sipp

pytestmark = pytest.mark.skipif(SIPP is None, reason=MISSING_REASON)

SERVER_ID = "34020000002000000001"
DOMAIN = "3402000000"
CAMERA = "34020000001320000264"
CHANNEL = "34020000001320000001"
PASSWORD = "Cam#2026pass"
CAM_MEDIA_PORT = 15060  # only announced in the camera's SDP; nothing binds it
OUR_MEDIA_PORT = 30000
DEADLINE_S = 20.0
# GB/T 28181-2016 9.2.2: live = 0, then digits 4-8 of the domain 3402000000, then 4 digits.
LIVE_SSRC = re.compile(r"^020000\d{4}$")


def registered(table: DeviceTable) -> bool:
    record = table.get(CAMERA)
    return record is not None and record.online


async def with_camera(
    tmp_path: Path,
    sip_transport: str,
    ooc: str,
    keys: dict[str, str],
    body: Callable[[GbPlatform], Awaitable[None]],
) -> SippResult:
    platform = GbPlatform(
        GbPlatformConfig(server_id=SERVER_ID, domain=DOMAIN, host="127.0.0.1", port=0, passwords={CAMERA: PASSWORD})
    )
    await platform.start()
    camera = SippCamera(CAMERA, SERVER_ID, DOMAIN, PASSWORD, sip_transport)
    sipp = await start_sipp(
        "register_and_serve",
        camera,
        platform.port,
        tmp_path,
        timeout_s=DEADLINE_S,
        ooc=ooc,
        keys={"cam_media_port": str(CAM_MEDIA_PORT), **keys},
    )
    try:
        await platform.wait_for(registered, DEADLINE_S)
        await body(platform)
        result = await asyncio.wait_for(sipp.finish(), DEADLINE_S + 5)
        assert result.ok, result.explain() + "\n--- messages ---\n" + sipp.messages[-6000:]
        return result
    finally:
        sipp.kill()
        await platform.stop()


@pytest.mark.parametrize(
    ("sip_transport", "media", "setup_line", "expected_setup"),
    [
        ("udp", MediaTransport.UDP, "a=framerate:25", None),
        ("udp", MediaTransport.TCP_PASSIVE, "a=setup:active", "active"),
        ("tcp", MediaTransport.TCP_ACTIVE, "a=setup:passive", "passive"),
        ("tcp", MediaTransport.UDP, "a=framerate:25", None),
    ],
    ids=["udp-sip-udp-media", "udp-sip-tcp-passive", "tcp-sip-tcp-active", "tcp-sip-udp-media"],
)
def test_invite_ack_then_platform_bye(
    tmp_path: Path,
    sip_transport: str,
    media: MediaTransport,
    setup_line: str,
    expected_setup: str | None,
) -> None:
    ended: list[str] = []

    async def body(platform: GbPlatform) -> None:
        session = await platform.invite(
            CAMERA,
            CHANNEL,
            transport=media,
            media_host="127.0.0.1",
            media_port=OUR_MEDIA_PORT,
            timeout_s=DEADLINE_S,
            on_end=lambda s, reason: ended.append(reason),
        )
        plan = session.media
        assert LIVE_SSRC.match(plan.offered_ssrc), plan
        assert plan.ssrc == plan.offered_ssrc  # SIPp echoed our y=
        assert plan.ssrc_value == int(plan.ssrc)
        assert plan.transport is media
        # For TCP active this is where we must connect; otherwise where the camera sends from.
        assert (plan.remote_host, plan.remote_port) == ("127.0.0.1", CAM_MEDIA_PORT)
        assert (plan.local_host, plan.local_port) == ("127.0.0.1", OUR_MEDIA_PORT)
        assert plan.remote_setup == expected_setup
        assert plan.format_params == "v/2/5/25/1/4096a///"
        assert plan.payload_types == {96: "PS/90000"}
        summary = platform.snapshot().sessions
        assert [(s.device_id, s.channel_id, s.ssrc) for s in summary] == [(CAMERA, CHANNEL, plan.ssrc)]
        await session.bye(timeout_s=DEADLINE_S)
        assert not session.active
        assert platform.snapshot().sessions == ()

    keys = {"media_proto": media.protocol, "setup_line": setup_line}
    result = asyncio.run(with_camera(tmp_path, sip_transport, "answer_invite", keys, body))
    # SIPp checked the offer: y= present, m= protocol, Subject "channel:ssrc,...".
    match = re.search(r"offer ssrc=(\d{10}) proto=(\S+) subject=(\d{20}):(\d{10})", result.log)
    assert match, result.log
    assert match.group(2) == media.protocol
    assert match.group(3) == CHANNEL and match.group(4) == match.group(1)
    assert ended == ["ended by platform (BYE)"]


def test_camera_bye_ends_the_session_and_notifies(tmp_path: Path) -> None:
    ended: list[tuple[PlaySession, str]] = []

    async def body(platform: GbPlatform) -> None:
        session = await platform.invite(
            CAMERA,
            CHANNEL,
            transport="udp",
            media_host="127.0.0.1",
            media_port=OUR_MEDIA_PORT,
            timeout_s=DEADLINE_S,
            on_end=lambda s, reason: ended.append((s, reason)),
        )
        assert session.active
        assert await session.wait_ended(DEADLINE_S) == "ended by device (BYE)"
        assert ended == [(session, "ended by device (BYE)")]
        assert platform.snapshot().sessions == ()
        await session.bye()  # a no-op now: nothing is sent for an ended session

    asyncio.run(with_camera(tmp_path, "udp", "answer_invite_then_bye", {}, body))


@pytest.mark.parametrize("sip_transport", ["udp", "tcp"])
def test_refused_invite_is_acked_and_reported(tmp_path: Path, sip_transport: str) -> None:
    async def body(platform: GbPlatform) -> None:
        with pytest.raises(PlayError, match="486 Busy Here") as caught:
            await platform.invite(
                CAMERA,
                CHANNEL,
                transport="udp",
                media_host="127.0.0.1",
                media_port=OUR_MEDIA_PORT,
                timeout_s=DEADLINE_S,
            )
        assert caught.value.status == 486
        assert platform.snapshot().sessions == ()

    result = asyncio.run(with_camera(tmp_path, sip_transport, "answer_invite_busy", {}, body))
    assert "refusal ACKed: CSeq" in result.log
