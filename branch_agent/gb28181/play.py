"""Live video set-up and tear-down (GB/T 28181-2016 9.2): INVITE, ACK, BYE with one channel.

The platform INVITEs the channel ID with an SDP offer saying where it receives and which SSRC
(``y=``) the camera must stamp; the camera's 200 OK carries its SDP answer (where it sends from
or, for TCP active, where it listens) and the platform ACKs. Either side ends the session with
BYE. This module does signalling only: the RTP/PS receiver reads ``PlaySession.media``.

The offered SSRC is random and unique among live sessions (``SsrcPool``), and the plan names the
hosts media may come from (the device's registered address and the answer's c=), since an SSRC
alone proves nothing. A BYE, or a resent 200, counts only from where the device registered.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from branch_agent.gb28181.devices import DeviceRecord
from branch_agent.gb28181.sdp import (
    MediaTransport,
    SdpError,
    SessionDescription,
    build_play_offer,
    parse_sdp,
)
from branch_agent.gb28181.sip_client import (
    ClientTransactions,
    Destination,
    LocalParty,
    SipTimeout,
    build_request,
    device_uri,
    new_call_id,
    new_tag,
)
from branch_agent.gb28181.sip_message import (
    SipParseError,
    SipRequest,
    SipResponse,
    ascii_digits,
    make_response,
    parse_name_addr,
)
from branch_agent.gb28181.ssrc import SsrcExhausted, SsrcPool

log = logging.getLogger(__name__)

SDP_TYPE = "APPLICATION/SDP"


class PlayError(RuntimeError):
    """The INVITE did not give a playable session; ``status`` is the device's answer if any."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class MediaPlan:
    """What the media receiver needs, from the offer and the camera's answer together.

    UDP and TCP passive: the platform receives on ``local_host:local_port``; ``remote_host`` and
    ``remote_port`` are where the camera says it sends from. TCP active: the platform connects
    to ``remote_host:remote_port``, where the camera listens. RTP packets should carry ``ssrc``
    (the camera's y= if it answered one, else ours; some cameras change it).
    """

    transport: MediaTransport
    local_host: str
    local_port: int
    remote_host: str
    remote_port: int
    ssrc: str
    offered_ssrc: str
    remote_setup: str | None  # the camera's a=setup (active/passive) for TCP
    format_params: str | None  # the camera's f= line, if any
    payload_types: dict[int, str]
    device_host: str = ""  # the address the device registered from

    @property
    def allowed_sources(self) -> tuple[str, ...]:
        """Hosts whose RTP is taken (UDP) or whose connection is accepted (TCP passive): the
        device's registered address and the address its answer's c= names, if that is a usable IP."""
        hosts = [self.device_host] if self.device_host else []
        try:
            named = ipaddress.ip_address(self.remote_host)
        except ValueError:
            return tuple(hosts)
        if not (named.is_unspecified or named.is_multicast) and str(named) not in hosts:
            hosts.append(str(named))
        return tuple(hosts)

    @property
    def ssrc_value(self) -> int:
        """The y= digits as the 32-bit RTP SSRC number (GB cameras put the decimal value there)."""
        return int(self.ssrc) & 0xFFFFFFFF


EndCallback = Callable[["PlaySession", str], None]


class PlaySession:
    """One live stream from one channel: an INVITE dialog that is up until BYE from either side."""

    def __init__(
        self,
        *,
        device_id: str,
        channel_id: str,
        call_id: str,
        local_from: str,
        remote_to: str,
        remote_target: str,
        cseq: int,
        destination: Destination,
        media: MediaPlan,
        answer: SessionDescription,
        local: LocalParty,
        client: ClientTransactions,
        on_end: Callable[[PlaySession, str], None],
    ) -> None:
        self.device_id = device_id
        self.channel_id = channel_id
        self.call_id = call_id
        self.media = media
        self.answer = answer
        self.started_at = time.time()
        self.ended_reason: str | None = None
        self._local_from = local_from
        self._remote_to = remote_to
        self._remote_target = remote_target
        self._cseq = cseq
        self._destination = destination
        self._local = local
        self._client = client
        self._on_end = on_end
        self._ended = asyncio.Event()
        self.ack: SipRequest | None = None

    @property
    def active(self) -> bool:
        return self.ended_reason is None

    @property
    def destination(self) -> Destination:
        return self._destination

    @property
    def remote_tag(self) -> str | None:
        return parse_name_addr(self._remote_to).tag

    async def bye(self, timeout_s: float | None = None) -> None:
        """End the session from our side. The session ends even if the camera does not answer."""
        if not self.active:
            return
        self._cseq += 1
        request = build_request(
            "BYE",
            self._remote_target,
            via=self._local.via(self._destination.transport),
            from_=self._local_from,
            to=self._remote_to,
            call_id=self.call_id,
            cseq=self._cseq,
        )
        self.end("ended by platform (BYE)")
        try:
            response = await self._client.request(request, self._destination, timeout_s=timeout_s)
        except (SipTimeout, ConnectionError, OSError) as exc:
            log.warning("BYE to %s/%s not answered: %s", self.device_id, self.channel_id, exc)
            return
        if response.status >= 300:
            log.warning(
                "BYE to %s/%s answered %d %s", self.device_id, self.channel_id, response.status, response.reason
            )

    def end(self, reason: str) -> None:
        if not self.active:
            return
        self.ended_reason = reason
        self._ended.set()
        self._on_end(self, reason)

    async def wait_ended(self, timeout_s: float) -> str:
        await asyncio.wait_for(self._ended.wait(), timeout_s)
        assert self.ended_reason is not None
        return self.ended_reason

    def __repr__(self) -> str:
        return (
            f"PlaySession({self.device_id}/{self.channel_id}, {self.media.transport.value}, "
            f"ssrc={self.media.ssrc}, {'active' if self.active else self.ended_reason})"
        )


class PlaySessions:
    """INVITEs the platform sends and the sessions they opened, keyed by Call-ID."""

    def __init__(self, local: LocalParty, client: ClientTransactions) -> None:
        self._local = local
        self._client = client
        self._sessions: dict[str, PlaySession] = {}
        self._ssrcs = SsrcPool(local.domain)
        self.on_ended: list[EndCallback] = []

    def sessions(self) -> list[PlaySession]:
        return [s for s in self._sessions.values() if s.active]

    def next_ssrc(self) -> str:
        """A random live SSRC no other session uses, kept for the INVITE it is drawn for
        (``release_ssrc`` if that INVITE is never sent)."""
        try:
            return self._ssrcs.take()
        except SsrcExhausted as exc:
            raise PlayError(str(exc)) from None

    def release_ssrc(self, ssrc: str) -> None:
        self._ssrcs.release(ssrc)

    async def invite(
        self,
        record: DeviceRecord,
        channel_id: str,
        *,
        transport: MediaTransport,
        media_host: str,
        media_port: int,
        ssrc: str | None = None,
        timeout_s: float | None = None,
        on_end: EndCallback | None = None,
    ) -> PlaySession:
        offered_ssrc = ssrc or self.next_ssrc()
        try:
            session = await self._invite(
                record,
                channel_id,
                transport=transport,
                media_host=media_host,
                media_port=media_port,
                offered_ssrc=offered_ssrc,
                timeout_s=timeout_s,
                on_end=on_end,
            )
        except BaseException:
            self._ssrcs.release(offered_ssrc)
            raise
        self._ssrcs.hold(offered_ssrc)
        if session.media.ssrc != offered_ssrc:
            self._ssrcs.hold(session.media.ssrc)
        return session

    async def _invite(
        self,
        record: DeviceRecord,
        channel_id: str,
        *,
        transport: MediaTransport,
        media_host: str,
        media_port: int,
        offered_ssrc: str,
        timeout_s: float | None,
        on_end: EndCallback | None,
    ) -> PlaySession:
        offer = build_play_offer(
            platform_id=self._local.server_id,
            host=media_host,
            port=media_port,
            ssrc=offered_ssrc,
            transport=transport,
        )
        call_id = new_call_id(self._local.host)
        local_from = self._local.from_header(new_tag())
        destination = Destination(record.transport, record.address)
        uri = device_uri(channel_id, record.contact, record.address)
        cseq = 1
        invite = build_request(
            "INVITE",
            uri,
            via=self._local.via(record.transport),
            from_=local_from,
            to=f"<sip:{channel_id}@{self._local.domain}>",
            call_id=call_id,
            cseq=cseq,
            contact=self._local.contact,
            content_type=SDP_TYPE,
            body=offer,
            # 9.2.2.1: "sender channel:sender SSRC,receiver ID:receiver sequence".
            extra=(("Subject", f"{channel_id}:{offered_ssrc},{self._local.server_id}:0"),),
        )
        try:
            response = await self._client.request(invite, destination, timeout_s=timeout_s)
        except SipTimeout as exc:
            raise PlayError(f"INVITE to {channel_id} on {record.device_id}: {exc}") from None
        if response.status >= 300:
            raise PlayError(
                f"INVITE to {channel_id} on {record.device_id} refused: {response.status} {response.reason}",
                response.status,
            )
        remote_to = response.require("To")
        contacts = response.get_all("Contact")
        remote_target = parse_name_addr(contacts[0]).uri if contacts else uri
        ack = build_request(
            "ACK",
            remote_target,
            via=self._local.via(record.transport),
            from_=local_from,
            to=remote_to,
            call_id=call_id,
            cseq=cseq,
        )
        self._client.send_once(ack, destination)
        try:
            answer = parse_sdp(response.body)
            media = self._plan(answer, transport, media_host, media_port, offered_ssrc, record.address[0])
        except SdpError as exc:
            # The dialog exists now (we ACKed); close it so the camera does not stream into nothing.
            await self._bye_raw(destination, remote_target, local_from, remote_to, call_id, cseq + 1)
            raise PlayError(
                f"INVITE to {channel_id} on {record.device_id}: bad SDP answer: {exc}", response.status
            ) from None
        callbacks = [cb for cb in (on_end,) if cb is not None]
        session = PlaySession(
            device_id=record.device_id,
            channel_id=channel_id,
            call_id=call_id,
            local_from=local_from,
            remote_to=remote_to,
            remote_target=remote_target,
            cseq=cseq,
            destination=destination,
            media=media,
            answer=answer,
            local=self._local,
            client=self._client,
            on_end=lambda s, reason: self._ended(s, reason, callbacks),
        )
        session.ack = ack
        self._sessions[call_id] = session
        log.info("live video %s/%s up: %s", record.device_id, channel_id, media)
        return session

    @staticmethod
    def _plan(
        answer: SessionDescription,
        transport: MediaTransport,
        media_host: str,
        media_port: int,
        offered_ssrc: str,
        device_host: str,
    ) -> MediaPlan:
        video = answer.video
        if transport.is_tcp and not video.is_tcp:
            raise SdpError(f"offered {transport.protocol} but the answer's m= says {video.protocol}")
        theirs = answer.ssrc
        ssrc = theirs if theirs and ascii_digits(theirs) and len(theirs) <= 10 else offered_ssrc
        return MediaPlan(
            transport=transport,
            local_host=media_host,
            local_port=media_port,
            remote_host=answer.media_host(video),
            remote_port=video.port,
            ssrc=ssrc,
            offered_ssrc=offered_ssrc,
            remote_setup=video.setup,
            format_params=answer.format_params,
            payload_types=video.rtpmap,
            device_host=device_host,
        )

    async def _bye_raw(
        self, destination: Destination, target: str, local_from: str, remote_to: str, call_id: str, cseq: int
    ) -> None:
        request = build_request(
            "BYE",
            target,
            via=self._local.via(destination.transport),
            from_=local_from,
            to=remote_to,
            call_id=call_id,
            cseq=cseq,
        )
        try:
            await self._client.request(request, destination)
        except (SipTimeout, ConnectionError, OSError) as exc:
            log.warning("BYE after a bad answer not answered: %s", exc)

    def _ended(self, session: PlaySession, reason: str, callbacks: list[EndCallback]) -> None:
        self._sessions.pop(session.call_id, None)
        self._ssrcs.release(session.media.offered_ssrc)
        if session.media.ssrc != session.media.offered_ssrc:
            self._ssrcs.release(session.media.ssrc)
        for callback in [*callbacks, *self.on_ended]:
            try:
                callback(session, reason)
            except Exception:
                log.exception("play session end callback failed")

    def handle_bye(self, request: SipRequest, source: Destination) -> SipResponse | None:
        """Answer a BYE from a camera; None if it is not for one of our sessions."""
        session = self._sessions.get(request.call_id)
        if session is None:
            return None
        if source != session.destination:
            log.warning(
                "BYE for %s/%s from %s:%d refused: the device is at %s:%d",
                session.device_id,
                session.channel_id,
                *source.address,
                *session.destination.address,
            )
            return make_response(request, 403, "Forbidden (not the device's address)")
        try:
            their_tag = parse_name_addr(request.require("From")).tag
        except SipParseError:
            their_tag = None
        if their_tag != session.remote_tag:
            return make_response(request, 481, "Call/Transaction Does Not Exist")
        response = make_response(request, 200, "OK")
        session.end("ended by device (BYE)")
        return response

    def handle_stray_response(
        self, response: SipResponse, source: Destination, send: Callable[[SipRequest, Destination], object]
    ) -> bool:
        """A 200 to an INVITE resent because our ACK was lost: ACK it again (RFC 3261 13.2.2.4)."""
        try:
            _, method = response.cseq
            session = self._sessions.get(response.call_id)
        except SipParseError:
            return False
        if method != "INVITE" or session is None or session.ack is None or not 200 <= response.status < 300:
            return False
        if source != session.destination:
            return False
        send(session.ack, session.destination)
        return True
