"""The platform side of GB/T 28181 registration and keepalive (GB/T 28181-2016 9.1 and 9.6).

REGISTER without credentials → 401 with a digest challenge; with the right ones → 200 carrying
``Date`` (the camera sets its clock from it) and the granted ``Expires``; with a wrong password
→ 403; ``Expires: 0`` unregisters. Keepalive MESSAGEs keep a device online; after
``keepalive_misses`` intervals without one it is marked offline.

A device is bound to where its authenticated REGISTER came from (address and port over UDP, the
connection over TCP). A MESSAGE in its name from anywhere else (a keepalive, a query answer, any
notify) is refused with 403 and logged: it neither moves the device nor keeps it alive. Only a
new authenticated REGISTER moves a device.

UDP retransmits a request until its answer arrives, so answers are cached per transaction and a
retransmission gets the cached answer without being processed twice. The sender is part of the
transaction: a look-alike from elsewhere is processed on its own, never answered from the cache
nor poisoning it for the device.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable

from branch_agent.gb28181.devices import (
    UNREGISTERED,
    DeviceRecord,
    DeviceTable,
    GbPlatformConfig,
    Transport,
)
from branch_agent.gb28181.gb_ids import InvalidGbId, parse_gb_id
from branch_agent.gb28181.manscdp import ManscdpError, ManscdpMessage, parse_manscdp
from branch_agent.gb28181.sip_digest import DigestError, NonceIssuer, Verdict, parse_authorization
from branch_agent.gb28181.sip_message import (
    SipParseError,
    SipRequest,
    SipResponse,
    ascii_digits,
    make_response,
    parse_name_addr,
    parse_via,
)
from branch_agent.gb28181.sip_transport import Peer, SipServer, TcpLimits

log = logging.getLogger(__name__)

# RFC 3261 17.2: a server transaction lives 64*T1 = 32 s after its final answer.
TRANSACTION_LIFETIME_S = 32.0
MAX_CACHED_TRANSACTIONS = 4096
USER_AGENT = "dual-recording branch agent"


def gb_date(moment: dt.datetime) -> str:
    """GB/T 28181's Date form, local time without zone: 2026-11-23T10:35:30.123."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


class Registrar:
    def __init__(
        self,
        config: GbPlatformConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], dt.datetime] = dt.datetime.now,
    ) -> None:
        self.config = config
        self.devices = DeviceTable()
        self._clock = clock
        self._wall_clock = wall_clock
        self._nonces = NonceIssuer(config.domain, config.nonce_lifetime_s, "auth" if config.digest_qop else None, clock)
        self._transactions: OrderedDict[tuple[str, ...], tuple[float, bytes]] = OrderedDict()
        self._server: SipServer | None = None
        self._watchdog: asyncio.Task[None] | None = None
        # Set whenever the device table changes, so callers can wait for a state instead of sleeping.
        self._changed = asyncio.Condition()

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        config = self.config
        limits = TcpLimits(
            max_connections=config.tcp_max_connections,
            max_per_peer=config.tcp_max_connections_per_peer,
            idle_timeout_s=config.tcp_idle_s,
            message_timeout_s=config.sip_message_timeout_s,
        )
        self._server = SipServer(
            config.host,
            config.port,
            self.handle,
            config.transports,
            limits=limits,
            max_message_bytes=config.max_message_bytes,
        )
        await self._server.start()
        self._watchdog = asyncio.get_running_loop().create_task(self._watch_keepalives())

    async def stop(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
        if self._server is not None:
            await self._server.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("registrar not started")
        return self._server.port

    @property
    def tcp_connections(self) -> int:
        return self._server.tcp_connections if self._server is not None else 0

    def connection_of(self, transport: Transport, address: tuple[str, int]) -> int:
        """The number of the TCP connection open from ``address`` (0 for UDP or none)."""
        if transport is Transport.UDP or self._server is None:
            return 0
        return self._server.connection_of(address)

    async def wait_for(self, predicate: Callable[[DeviceTable], bool], timeout_s: float) -> None:
        """Wait until the device table satisfies ``predicate`` (raises TimeoutError otherwise)."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: predicate(self.devices)), timeout_s)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _watch_keepalives(self) -> None:
        # Checking four times per interval bounds how late "offline" is noticed to a quarter interval.
        period = self.config.keepalive_interval_s / 4
        while True:
            await asyncio.sleep(period)
            await self.check_liveness()

    async def check_liveness(self) -> list[DeviceRecord]:
        gone = self.devices.expire(self._clock(), self.config.keepalive_interval_s, self.config.keepalive_misses)
        for record in gone:
            log.warning("GB28181 device %s offline: %s", record.device_id, record.offline_reason)
        if gone:
            await self._notify()
        return gone

    # -- dispatch --------------------------------------------------------------------------------

    async def handle(self, message: SipRequest | SipResponse, peer: Peer) -> None:
        if isinstance(message, SipResponse):
            self._on_response(message, peer)
            return
        if message.method == "ACK":
            return
        try:
            key = self._transaction_key(message, peer)
        except SipParseError as exc:
            self._send(peer, self._error(message, 400, f"Bad Request ({exc})"))
            return
        cached = self._cached(key)
        if cached is not None:
            peer.send(cached)
            return
        try:
            if message.method == "REGISTER":
                response = self._register(message, peer)
            elif message.method == "MESSAGE":
                response = self._message(message, peer)
            else:
                response = self._other_request(message, peer)
        except SipParseError as exc:
            response = self._error(message, 400, f"Bad Request ({exc})")
        raw = self._send(peer, response)
        self._remember(key, raw)
        await self._notify()

    def _transaction_key(self, request: SipRequest, peer: Peer) -> tuple[str, ...]:
        via = parse_via(request.get_all("Via")[0]) if request.get_all("Via") else None
        if via is None:
            raise SipParseError("missing Via header")
        number, method = request.cseq
        return (request.call_id, str(number), method, via.branch or "", f"{via.host}:{via.port}", str(peer.origin))

    def _cached(self, key: tuple[str, ...]) -> bytes | None:
        now = self._clock()
        while self._transactions:
            oldest_key, (stamp, _) = next(iter(self._transactions.items()))
            if now - stamp <= TRANSACTION_LIFETIME_S and len(self._transactions) <= MAX_CACHED_TRANSACTIONS:
                break
            del self._transactions[oldest_key]
        entry = self._transactions.get(key)
        return entry[1] if entry else None

    def _remember(self, key: tuple[str, ...], raw: bytes) -> None:
        self._transactions[key] = (self._clock(), raw)

    def _send(self, peer: Peer, response: SipResponse) -> bytes:
        if peer.transport is Transport.UDP:
            self._stamp_received(response, peer)
        response.set("User-Agent", USER_AGENT)
        raw = response.serialize()
        peer.send(raw)
        return raw

    @staticmethod
    def _stamp_received(response: SipResponse, peer: Peer) -> None:
        """RFC 3581: tell a device behind NAT which address and port its request came from."""
        vias = [(i, v) for i, (n, v) in enumerate(response.headers) if n == "Via"]
        if not vias:
            return
        index, value = vias[0]
        top, sep, rest = value.partition(",")
        parts = [p for p in top.strip().split(";")]
        out = [parts[0]]
        for part in parts[1:]:
            name = part.split("=")[0].strip().lower()
            if name not in ("rport", "received"):
                out.append(part)
        if any(p.split("=")[0].strip().lower() == "rport" for p in parts[1:]):
            out.append(f"rport={peer.address[1]}")
        out.append(f"received={peer.address[0]}")
        response.headers[index] = ("Via", ";".join(out) + (sep + rest if sep else ""))

    def _error(self, request: SipRequest, status: int, reason: str) -> SipResponse:
        return make_response(request, status, reason, to_tag=secrets.token_hex(4))

    # -- extension points (the platform adds queries and live video) ------------------------

    def _on_response(self, response: SipResponse, peer: Peer) -> None:
        """An answer to a request we sent; the registrar itself sends none."""

    def _other_request(self, request: SipRequest, peer: Peer) -> SipResponse:
        return self._error(request, 501, "Not Implemented")

    def _on_manscdp(self, body: ManscdpMessage, request: SipRequest, peer: Peer) -> None:
        """A MANSCDP MESSAGE other than Keepalive; the caller answers it 200 once this returns."""

    # -- REGISTER --------------------------------------------------------------------------------

    def _register(self, request: SipRequest, peer: Peer) -> SipResponse:
        device_id = parse_name_addr(request.require("From")).user
        try:
            parse_gb_id(device_id, "device ID")
        except InvalidGbId as exc:
            log.warning("REGISTER refused: %s", exc)
            return self._error(request, 403, "Forbidden (not a GB/T 28181 device ID)")
        password = self.config.password_for(device_id)
        if password is None:
            log.warning("REGISTER refused: device %s is not configured", device_id)
            return self._error(request, 403, "Forbidden (unknown device)")

        authorization = request.get("Authorization")
        if authorization is None:
            return self._challenge(request)
        try:
            credentials = parse_authorization(authorization)
        except DigestError as exc:
            return self._error(request, 400, f"Bad Request ({exc})")
        verdict = self._nonces.verify(credentials, password, "REGISTER")
        if verdict is Verdict.REPLAYED:
            # Whoever sent it may be the camera retrying or someone replaying what they captured:
            # either way a fresh nonce is the answer, and only the password holder can use it.
            log.warning("REGISTER for %s from %s carried used credentials (%s)", device_id, peer.origin, verdict.value)
        if verdict in (Verdict.STALE, Verdict.UNKNOWN_NONCE, Verdict.REPLAYED):
            return self._challenge(request, stale=verdict is Verdict.STALE)
        if verdict is not Verdict.OK:
            log.warning("REGISTER from %s refused: %s", device_id, verdict.value)
            return self._error(request, 403, "Forbidden")

        expires = self._requested_expires(request)
        if expires == 0:
            self.devices.unregister(device_id, UNREGISTERED)
            log.info("GB28181 device %s unregistered", device_id)
            response = make_response(request, 200, "OK", to_tag=secrets.token_hex(4))
            response.set("Expires", "0")
            response.set("Date", gb_date(self._wall_clock()))
            return response
        if expires < self.config.min_expires_s:
            response = self._error(request, 423, "Interval Too Brief")
            response.set("Min-Expires", str(self.config.min_expires_s))
            return response
        granted = min(expires, self.config.max_expires_s)
        contacts = request.get_all("Contact")
        contact = parse_name_addr(contacts[0]).uri if contacts else ""
        self.devices.register(
            device_id,
            peer.transport,
            peer.address,
            contact,
            granted,
            self._clock(),
            request.get("User-Agent") or "",
            peer.connection,
        )
        log.info("GB28181 device %s registered from %s", device_id, peer.origin)
        response = make_response(request, 200, "OK", to_tag=secrets.token_hex(4))
        if contacts:
            response.set(
                "Contact", f"{contacts[0]};expires={granted}" if "expires=" not in contacts[0] else contacts[0]
            )
        response.set("Expires", str(granted))
        response.set("Date", gb_date(self._wall_clock()))
        return response

    def _challenge(self, request: SipRequest, stale: bool = False) -> SipResponse:
        response = make_response(request, 401, "Unauthorized", to_tag=secrets.token_hex(4))
        response.set("WWW-Authenticate", self._nonces.challenge(stale).header_value())
        return response

    @staticmethod
    def _requested_expires(request: SipRequest) -> int:
        # A Contact's expires parameter overrides the Expires header (RFC 3261 10.2.1.1).
        for contact in request.get_all("Contact"):
            if contact.strip() == "*":
                return 0
            value = parse_name_addr(contact).params.get("expires")
            if value is not None:
                if not ascii_digits(value) or len(value) > 10:
                    raise SipParseError(f"Contact expires must be a number, got {value!r}")
                return int(value)
        header = request.get("Expires")
        if header is None:
            return 3600
        if not ascii_digits(header.strip()) or len(header.strip()) > 10:
            raise SipParseError(f"Expires must be a number of seconds, got {header!r}")
        return int(header.strip())

    # -- MESSAGE ---------------------------------------------------------------------------------

    def _message(self, request: SipRequest, peer: Peer) -> SipResponse:
        try:
            body = parse_manscdp(request.body, request.get("Content-Type"))
        except ManscdpError as exc:
            return self._error(request, 400, f"Bad Request ({exc})")
        sender = parse_name_addr(request.require("From")).user
        now = self._clock()
        record = self.devices.registered(sender, now)
        if record is None:
            # Tells the camera to register again rather than keep sending into a void.
            log.info("%s MESSAGE from unregistered device %s (%s) refused", body.cmd_type, sender, peer.origin)
            return self._error(request, 403, "Forbidden (not registered)")
        if record.origin != peer.origin:
            log.warning(
                "%s MESSAGE in the name of %s refused: it came from %s, the device registered from %s",
                body.cmd_type,
                sender,
                peer.origin,
                record.origin,
            )
            return self._error(request, 403, "Forbidden (not the registered address)")
        if body.cmd_type != "Keepalive":
            # Query answers (Catalog, DeviceInfo, ...) are acknowledged, then handed on.
            self._on_manscdp(body, request, peer)
            return make_response(request, 200, "OK", to_tag=secrets.token_hex(4))
        was_online = record.online
        self.devices.keepalive(sender, now)
        if not was_online:
            log.info("GB28181 device %s back online after %s", sender, record.offline_reason)
        return make_response(request, 200, "OK", to_tag=secrets.token_hex(4))
