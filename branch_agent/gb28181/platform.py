"""The GB/T 28181 platform the branch agent runs: registrar + queries + live video, one SIP port.

``Registrar`` answers what cameras send (REGISTER, keepalive); ``GbPlatform`` adds what the
platform asks of them: Catalog / DeviceInfo / DeviceStatus queries (9.5) and live-video INVITEs
(9.2), and a typed snapshot of devices, channels and sessions for status pages and heartbeat.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import logging
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from branch_agent.gb28181.devices import Channel, DeviceRecord, GbPlatformConfig, Transport
from branch_agent.gb28181.gb_ids import InvalidGbId, parse_gb_id
from branch_agent.gb28181.manscdp import CONTENT_TYPE, ManscdpMessage, build_manscdp
from branch_agent.gb28181.play import EndCallback, PlayError, PlaySession, PlaySessions
from branch_agent.gb28181.queries import (
    CATALOG,
    DEVICE_INFO,
    DEVICE_STATUS,
    CatalogIncomplete,
    DeviceInfo,
    DeviceStatus,
    PendingQueries,
    PendingQuery,
    QueryError,
    QueryRefused,
    QueryTimeout,
    parse_device_info,
    parse_device_status,
)
from branch_agent.gb28181.registrar import Registrar
from branch_agent.gb28181.sdp import MediaTransport
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
from branch_agent.gb28181.sip_message import SipRequest, SipResponse
from branch_agent.gb28181.sip_transport import Peer

log = logging.getLogger(__name__)

DEFAULT_QUERY_TIMEOUT_S = 10.0
DEFAULT_INVITE_TIMEOUT_S = 32.0  # Timer B; cameras may take seconds to start an encoder


@dataclass(frozen=True)
class SessionSummary:
    device_id: str
    channel_id: str
    transport: MediaTransport
    ssrc: str
    local_port: int
    remote_host: str
    remote_port: int
    started_at: float  # wall clock, seconds since the epoch


@dataclass(frozen=True)
class PlatformSnapshot:
    """Everything the counter status page and the heartbeat need, as immutable values."""

    server_id: str
    taken_at: float  # wall clock, seconds since the epoch
    devices: tuple[DeviceRecord, ...]
    sessions: tuple[SessionSummary, ...]

    @property
    def online_devices(self) -> tuple[DeviceRecord, ...]:
        return tuple(d for d in self.devices if d.online)

    @property
    def channels(self) -> tuple[tuple[str, Channel], ...]:
        """(device ID, channel) for every catalogued channel of every device."""
        return tuple((d.device_id, c) for d in self.devices for c in d.channels)


class GbPlatform(Registrar):
    def __init__(
        self,
        config: GbPlatformConfig,
        *,
        sip_host: str | None = None,
        query_timeout_s: float = DEFAULT_QUERY_TIMEOUT_S,
        t1_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], dt.datetime] = dt.datetime.now,
    ) -> None:
        super().__init__(config, clock=clock, wall_clock=wall_clock)
        # The address devices reach us at, for Via and Contact; a wildcard bind cannot say it.
        self._sip_host = sip_host or (config.host if config.host not in ("0.0.0.0", "::", "") else None)
        self.query_timeout_s = query_timeout_s
        self._client = ClientTransactions(self._send_raw, t1_s=t1_s)
        self._queries = PendingQueries()
        # SN only has to be unique among our open queries; starting at random avoids matching
        # a late answer to a query from before a restart.
        self._sn = itertools.count(secrets.randbelow(100000) + 1)
        self._local: LocalParty | None = None
        self._play: PlaySessions | None = None

    async def start(self) -> None:
        await super().start()
        host = self._sip_host
        if host is None:
            host = socket.gethostbyname(socket.gethostname())
            log.warning(
                "SIP bound to %s; announcing %s in Via/Contact (pass sip_host to choose)", self.config.host, host
            )
        self._local = LocalParty(self.config.server_id, self.config.domain, host, self.port)
        self._play = PlaySessions(self._local, self._client)

    async def stop(self) -> None:
        if self._play is not None:
            # Hang up every stream so cameras stop sending; a camera that does not answer in 2 s
            # is not waited for.
            await asyncio.gather(*(s.bye(timeout_s=2.0) for s in self._play.sessions()))
        await super().stop()

    def _send_raw(self, transport: Transport, address: tuple[str, int], raw: bytes) -> None:
        if self._server is None:
            raise ConnectionError("platform not started")
        self._server.send(transport, address, raw)

    @property
    def local(self) -> LocalParty:
        if self._local is None:
            raise RuntimeError("platform not started")
        return self._local

    @property
    def play_sessions(self) -> PlaySessions:
        if self._play is None:
            raise RuntimeError("platform not started")
        return self._play

    # -- incoming ------------------------------------------------------------------------------

    def _on_response(self, response: SipResponse, peer: Peer) -> None:
        source = Destination(peer.transport, peer.address)
        if self._client.on_response(response, source):
            return
        if self._play is not None and self._play.handle_stray_response(response, source, self._client.send_once):
            return
        log.debug("answer %d from %s:%d matches no request of ours", response.status, *peer.address)

    def _other_request(self, request: SipRequest, peer: Peer) -> SipResponse:
        if request.method == "BYE" and self._play is not None:
            answer = self._play.handle_bye(request, Destination(peer.transport, peer.address))
            if answer is not None:
                return answer
            return self._error(request, 481, "Call/Transaction Does Not Exist")
        return super()._other_request(request, peer)

    def _on_manscdp(self, body: ManscdpMessage, request: SipRequest, peer: Peer) -> None:
        if body.root != "Response":
            return  # Notify (alarms, catalogue changes) is not handled yet; it is answered 200
        try:
            delivered = self._queries.deliver(body, peer.origin)
        except Exception:
            # The device still gets its 200: a body we cannot read must not make it resend forever.
            log.exception("%s Response SN %d from %s could not be read", body.cmd_type, body.sn, body.device_id)
            return
        if not delivered:
            log.info(
                "unasked %s Response SN %d from %s ignored (late or not ours)", body.cmd_type, body.sn, body.device_id
            )

    # -- queries (9.5) -------------------------------------------------------------------------

    def _reachable(self, device_id: str) -> DeviceRecord:
        record = self.devices.get(device_id)
        if record is None:
            raise QueryError(f"device {device_id} is not registered")
        if not record.online:
            raise QueryError(f"device {device_id} is offline ({record.offline_reason})")
        return record

    async def _query(self, device_id: str, cmd_type: str, timeout_s: float | None) -> PendingQuery:
        record = self._reachable(device_id)
        deadline_s = timeout_s if timeout_s is not None else self.query_timeout_s
        loop = asyncio.get_running_loop()
        deadline = loop.time() + deadline_s
        sn = next(self._sn)
        # Opened before sending: a fast device's Response may overtake the 200 to our query.
        pending = self._queries.open(cmd_type, sn, device_id, record.origin)
        local = self.local
        request = build_request(
            "MESSAGE",
            device_uri(device_id, record.contact, record.address),
            via=local.via(record.transport),
            from_=local.from_header(new_tag()),
            to=f"<sip:{device_id}@{self.config.domain}>",
            call_id=new_call_id(local.host),
            cseq=1,
            content_type=CONTENT_TYPE,
            body=build_manscdp("Query", cmd_type, sn, device_id),
        )
        what = f"{cmd_type} query to {device_id}"
        transaction = asyncio.ensure_future(
            self._client.request(request, Destination(record.transport, record.address), timeout_s=deadline_s)
        )
        try:
            # Whichever ends first; each one's outcome is read from it below.
            racers: set[asyncio.Future[Any]] = {transaction, pending.done}
            await asyncio.wait(racers, timeout=deadline_s, return_when=asyncio.FIRST_COMPLETED)
            if pending.done.done():
                # The device answered, so it has the query; a lost 200 to it no longer matters.
                return pending
            if transaction.done():
                try:
                    answer = transaction.result()
                except SipTimeout as exc:
                    raise self._timed_out(pending, f"{what}: {exc}") from None
                except ConnectionError as exc:
                    raise QueryError(f"{what}: {exc}") from None
                if answer.status >= 300:
                    raise QueryRefused(f"{what} refused: {answer.status} {answer.reason}", answer.status)
            remaining = max(0.0, deadline - loop.time())
            try:
                await asyncio.wait_for(asyncio.shield(pending.done), remaining)
            except TimeoutError:
                missing = "complete Response" if transaction.done() else "answer to the query MESSAGE"
                raise self._timed_out(pending, f"{what} (SN {sn}): no {missing} within {deadline_s:g} s") from None
            return pending
        finally:
            transaction.cancel()  # stops UDP retransmission once the answer is in
            if transaction.done() and not transaction.cancelled():
                transaction.exception()  # retrieved: a late failure is not worth a warning
            self._queries.close(pending)

    @staticmethod
    def _timed_out(pending: PendingQuery, message: str) -> QueryTimeout:
        if pending.key[0] != CATALOG:
            return QueryTimeout(message)
        parts = pending.catalog
        if parts.messages:
            message += f" ({parts.received} of {parts.sum_num} catalogue items arrived)"
        return CatalogIncomplete(message, tuple(parts.channels.values()), tuple(parts.invalid.items()), parts.sum_num)

    async def query_catalog(self, device_id: str, timeout_s: float | None = None) -> list[Channel]:
        """The device's channels, also stored on its record. Raises CatalogIncomplete (with the
        channels that did arrive) when fewer than SumNum items came in time."""
        try:
            pending = await self._query(device_id, CATALOG, timeout_s)
        except CatalogIncomplete as exc:
            if exc.channels or exc.invalid:
                # Part of a catalogue is still worth having: an NVR's first cameras can be used.
                self.devices.set_channels(device_id, exc.channels, exc.invalid, complete=False)
                await self._notify()
            raise
        channels = tuple(pending.catalog.channels.values())
        invalid = tuple(pending.catalog.invalid.items())
        self.devices.set_channels(device_id, channels, invalid, complete=True)
        await self._notify()
        return list(channels)

    async def query_device_info(self, device_id: str, timeout_s: float | None = None) -> DeviceInfo:
        pending = await self._query(device_id, DEVICE_INFO, timeout_s)
        return parse_device_info(pending.responses[-1])

    async def query_device_status(self, device_id: str, timeout_s: float | None = None) -> DeviceStatus:
        pending = await self._query(device_id, DEVICE_STATUS, timeout_s)
        return parse_device_status(pending.responses[-1])

    # -- live video (9.2) ----------------------------------------------------------------------

    async def invite(
        self,
        device_id: str,
        channel_id: str,
        *,
        transport: MediaTransport | str = MediaTransport.UDP,
        media_host: str,
        media_port: int,
        ssrc: str | None = None,
        timeout_s: float | None = None,
        on_end: EndCallback | None = None,
    ) -> PlaySession:
        """Start live video from ``channel_id``; ``media_host:media_port`` is where we receive
        (UDP, TCP passive) or, for TCP active, what we announce while connecting out."""
        kind = transport if isinstance(transport, MediaTransport) else MediaTransport(transport)
        try:
            parse_gb_id(channel_id, "channel ID")
        except InvalidGbId as exc:
            raise PlayError(str(exc)) from None
        try:
            record = self._reachable(device_id)
        except QueryError as exc:
            raise PlayError(str(exc)) from None
        try:
            return await self.play_sessions.invite(
                record,
                channel_id,
                transport=kind,
                media_host=media_host,
                media_port=media_port,
                ssrc=ssrc,
                timeout_s=timeout_s if timeout_s is not None else DEFAULT_INVITE_TIMEOUT_S,
                on_end=on_end,
            )
        except ConnectionError as exc:
            raise PlayError(f"INVITE to {channel_id} on {device_id}: {exc}") from None

    # -- snapshot ------------------------------------------------------------------------------

    def snapshot(self) -> PlatformSnapshot:
        sessions = tuple(
            SessionSummary(
                device_id=s.device_id,
                channel_id=s.channel_id,
                transport=s.media.transport,
                ssrc=s.media.ssrc,
                local_port=s.media.local_port,
                remote_host=s.media.remote_host,
                remote_port=s.media.remote_port,
                started_at=s.started_at,
            )
            for s in (self._play.sessions() if self._play is not None else [])
        )
        return PlatformSnapshot(self.config.server_id, time.time(), tuple(self.devices.snapshot()), sessions)
