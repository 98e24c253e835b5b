"""INVITE / ACK / BYE details against a raw-socket camera: Timer A retransmission until 100
Trying, ACK on a new branch to the Contact, re-ACK of a resent 200, BYE matching by tags,
unusable SDP answers, and INVITEs nobody answers."""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Awaitable, Callable

import pytest

from branch_agent.gb28181.devices import GbPlatformConfig
from branch_agent.gb28181.platform import GbPlatform
from branch_agent.gb28181.play import PlayError, PlaySession, PlaySessions
from branch_agent.gb28181.sdp import parse_sdp
from branch_agent.gb28181.sip_client import ClientTransactions, LocalParty
from branch_agent.gb28181.sip_message import SipRequest, SipResponse, parse_name_addr, parse_via
from tests.peers.raw_gb_camera import RawCamera

SERVER_ID = "34020000002000000001"
DOMAIN = "3402000000"
CAMERA = "34020000001320000264"
CHANNEL = "34020000001320000001"
T1_S = 0.05

ANSWER = (
    "v=0\r\no=34020000001320000001 0 0 IN IP4 127.0.0.1\r\ns=Play\r\nc=IN IP4 127.0.0.1\r\n"
    "t=0 0\r\nm=video 15060 RTP/AVP 96\r\na=sendonly\r\na=rtpmap:96 PS/90000\r\ny={ssrc}\r\n"
)


async def run(body: Callable[[GbPlatform, RawCamera], Awaitable[None]]) -> None:
    platform = GbPlatform(
        GbPlatformConfig(server_id=SERVER_ID, domain=DOMAIN, host="127.0.0.1", port=0, default_password="x"), t1_s=T1_S
    )
    await platform.start()
    camera = RawCamera(platform, CAMERA)
    try:
        await camera.attach()
        await body(platform, camera)
    finally:
        camera.close()
        await platform.stop()


def bye_from_camera(camera: RawCamera, invite: SipRequest, from_tag: str, call_id: str | None = None) -> bytes:
    """The camera's BYE: its From is the INVITE's To plus its tag, its To the INVITE's From."""
    return (
        f"BYE sip:{SERVER_ID}@127.0.0.1:{camera.platform.port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{camera.port};rport;branch=z9hG4bKbye{from_tag}{call_id or ''}\r\n"
        f"From: {invite.require('To')};tag={from_tag}\r\nTo: {invite.require('From')}\r\n"
        f"Call-ID: {call_id or invite.call_id}\r\nCSeq: 7 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def test_invite_retransmits_until_trying_then_acks_and_camera_bye_ends_it() -> None:
    ended: list[tuple[PlaySession, str]] = []

    async def body(platform: GbPlatform, camera: RawCamera) -> None:
        task = asyncio.create_task(
            platform.invite(
                CAMERA,
                CHANNEL,
                transport="udp",
                media_host="127.0.0.1",
                media_port=30000,
                timeout_s=5,
                on_end=lambda s, r: ended.append((s, r)),
            )
        )
        invite = await camera.recv_request("INVITE")
        assert invite.uri == f"sip:{CHANNEL}@127.0.0.1:{camera.port}"
        assert parse_name_addr(invite.require("To")).user == CHANNEL
        assert invite.get("Content-Type", "").lower() == "application/sdp"
        offer = parse_sdp(invite.body)
        assert invite.get("Subject") == f"{CHANNEL}:{offer.ssrc},{SERVER_ID}:0"
        again = await camera.recv_request("INVITE", timeout_s=1)  # Timer A
        assert again.serialize() == invite.serialize()
        await camera.answer(invite, 100, "Trying")
        await asyncio.sleep(T1_S)  # a copy already in flight may still land
        # After 100 Trying the retransmissions stop (17.1.1.2); one sent just before may linger.
        quiet = [await camera.silent_for(6 * T1_S) for _ in range(2)]
        assert quiet[-1], quiet
        assert not task.done()
        ok = await camera.answer(
            invite, 200, "OK", ANSWER.format(ssrc=offer.ssrc).encode(), "APPLICATION/SDP", contact=True
        )
        ack = await camera.recv_request("ACK")
        # The ACK to a 2xx is its own transaction: new branch, sent to the Contact (13.2.2.4).
        assert parse_via(ack.get_all("Via")[0]).branch != parse_via(invite.get_all("Via")[0]).branch
        assert ack.uri == f"sip:{CAMERA}@127.0.0.1:{camera.port}"
        assert ack.cseq == (1, "ACK")
        assert parse_name_addr(ack.require("To")).tag == "camtag"
        session = await asyncio.wait_for(task, 5)
        assert session.media.ssrc == offer.ssrc and session.media.remote_port == 15060
        # Our ACK "got lost": the camera resends the 200 and gets the ACK again.
        await camera.send(ok.serialize())
        assert (await camera.recv_request("ACK")).serialize() == ack.serialize()
        # A BYE with the wrong tag or an unknown Call-ID does not end anything.
        await camera.send(bye_from_camera(camera, invite, "not-ours"))
        assert (await camera.recv()).status == 481  # type: ignore[union-attr]
        await camera.send(bye_from_camera(camera, invite, "camtag", call_id="other@x"))
        assert (await camera.recv()).status == 481  # type: ignore[union-attr]
        assert session.active
        await camera.send(bye_from_camera(camera, invite, "camtag"))
        answer = await camera.recv()
        assert isinstance(answer, SipResponse) and answer.status == 200 and answer.cseq == (7, "BYE")
        assert not session.active and session.ended_reason == "ended by device (BYE)"
        assert ended == [(session, "ended by device (BYE)")]

    asyncio.run(run(body))


def test_answer_without_connection_line_is_acked_then_byed() -> None:
    async def body(platform: GbPlatform, camera: RawCamera) -> None:
        task = asyncio.create_task(
            platform.invite(CAMERA, CHANNEL, media_host="127.0.0.1", media_port=30000, timeout_s=5)
        )
        invite = await camera.recv_request("INVITE")
        await camera.answer(invite, 200, "OK", b"v=0\r\nm=video 15060 RTP/AVP 96\r\n", "application/sdp", contact=True)
        await camera.recv_request("ACK")
        bye = await camera.recv_request("BYE")
        assert bye.cseq == (2, "BYE")
        await camera.answer(bye, 200, "OK")
        with pytest.raises(PlayError, match="bad SDP answer: SDP has no c= line"):
            await task
        assert platform.snapshot().sessions == ()

    asyncio.run(run(body))


def test_tcp_offer_answered_with_udp_is_refused() -> None:
    async def body(platform: GbPlatform, camera: RawCamera) -> None:
        task = asyncio.create_task(
            platform.invite(
                CAMERA, CHANNEL, transport="tcp_active", media_host="127.0.0.1", media_port=30000, timeout_s=5
            )
        )
        invite = await camera.recv_request("INVITE")
        ssrc = parse_sdp(invite.body).ssrc
        await camera.answer(invite, 200, "OK", ANSWER.format(ssrc=ssrc).encode(), "application/sdp")
        await camera.recv_request("ACK")
        await camera.answer(await camera.recv_request("BYE"), 200, "OK")
        with pytest.raises(PlayError, match="offered TCP/RTP/AVP but the answer's m= says RTP/AVP"):
            await task

    asyncio.run(run(body))


def test_unanswered_invite_times_out_and_bad_targets_are_refused() -> None:
    async def body(platform: GbPlatform, camera: RawCamera) -> None:
        with pytest.raises(PlayError, match="no final answer to INVITE"):
            await platform.invite(CAMERA, CHANNEL, media_host="127.0.0.1", media_port=30000, timeout_s=0.3)
        with pytest.raises(PlayError, match="channel ID '123' must be exactly 20 digits"):
            await platform.invite(CAMERA, "123", media_host="127.0.0.1", media_port=30000)
        with pytest.raises(PlayError, match="not registered"):
            await platform.invite("34020000001320000999", CHANNEL, media_host="127.0.0.1", media_port=30000)

    asyncio.run(run(body))


def test_camera_ssrc_overrides_ours_when_it_answers_another() -> None:
    async def body(platform: GbPlatform, camera: RawCamera) -> None:
        task = asyncio.create_task(
            platform.invite(CAMERA, CHANNEL, media_host="127.0.0.1", media_port=30000, timeout_s=5)
        )
        invite = await camera.recv_request("INVITE")
        await camera.answer(invite, 200, "OK", ANSWER.format(ssrc="0200009999").encode(), "application/sdp")
        await camera.recv_request("ACK")
        session = await asyncio.wait_for(task, 5)
        assert session.media.ssrc == "0200009999"
        assert session.media.offered_ssrc == parse_sdp(invite.body).ssrc
        bye_task = asyncio.create_task(session.bye())
        bye = await camera.recv_request("BYE")
        # No Contact in the 200: the BYE goes to the INVITE's Request-URI.
        assert bye.uri == invite.uri
        await camera.answer(bye, 200, "OK")
        await asyncio.wait_for(bye_task, 5)

    asyncio.run(run(body))


def test_answer_ssrc_in_unicode_digits_falls_back_to_ours() -> None:
    async def body(platform: GbPlatform, camera: RawCamera) -> None:
        task = asyncio.create_task(
            platform.invite(CAMERA, CHANNEL, media_host="127.0.0.1", media_port=30000, timeout_s=5)
        )
        invite = await camera.recv_request("INVITE")
        await camera.answer(invite, 200, "OK", ANSWER.format(ssrc="²" * 10).encode(), "application/sdp")
        await camera.recv_request("ACK")
        session = await asyncio.wait_for(task, 5)
        assert session.media.ssrc == session.media.offered_ssrc == parse_sdp(invite.body).ssrc
        assert session.media.ssrc_value == int(session.media.ssrc)

    asyncio.run(run(body))


def test_play_sessions_offer_random_unique_ssrcs() -> None:
    sessions = PlaySessions(LocalParty(SERVER_ID, DOMAIN, "127.0.0.1", 5060), ClientTransactions(lambda *_: None))
    drawn = [sessions.next_ssrc() for _ in range(300)]
    assert all(re.fullmatch(r"020000\d{4}", s) for s in drawn), drawn[:5]
    # Unique while they are held (300 random draws from 10000 would otherwise repeat).
    assert len(set(drawn)) == len(drawn)
    # Not a counter: the next one cannot be guessed from the last.
    steps = sum(1 for a, b in itertools.pairwise(drawn) if int(b) - int(a) == 1)
    assert steps < 30, drawn[:20]
