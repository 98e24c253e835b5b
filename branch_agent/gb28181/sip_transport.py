"""SIP over UDP and TCP for the platform: sockets in, parsed messages out, replies back.

A reply goes back the way the request came: over UDP to the packet's source address (RFC 3581
``rport``, because branch cameras often sit behind NAT), over TCP on the same connection.

Each TCP connection gets a number, so a device can be bound to the connection it registered on.
A client on the branch LAN cannot tie the server up: connections beyond ``TcpLimits`` (in all,
or from one address) are closed at once, as is one that stays silent past the idle timeout or
takes longer than the message timeout to deliver a message it has begun (a header trickled byte
by byte), and a message longer than ``max_message_bytes`` is refused (400 when its headers were
readable) before its body is buffered. Over TCP a message that breaks framing closes the stream.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import cast

from branch_agent.gb28181.devices import Origin, Transport
from branch_agent.gb28181.sip_message import (
    MAX_MESSAGE_BYTES,
    SipParseError,
    SipRequest,
    SipResponse,
    StreamFramer,
    make_response,
    parse_message,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Peer:
    """Who sent a message and how to answer them."""

    transport: Transport
    address: tuple[str, int]
    send: Callable[[bytes], None]
    connection: int = 0  # the TCP connection's number; 0 for UDP

    @property
    def origin(self) -> Origin:
        return Origin(self.transport, self.address, self.connection)


Handler = Callable[[SipRequest | SipResponse, Peer], Awaitable[None]]


@dataclass(frozen=True)
class TcpLimits:
    max_connections: int = 256
    max_per_peer: int = 16  # from one IP address
    idle_timeout_s: float = 240.0
    message_timeout_s: float = 30.0


def bad_request(error: SipParseError) -> bytes | None:
    """A 400 for a request whose headers could be read; None when there is nothing to answer."""
    partial = error.partial
    if not isinstance(partial, SipRequest) or partial.method == "ACK" or not partial.get_all("Via"):
        return None
    try:
        response = make_response(partial, 400, f"Bad Request ({error})"[:300], to_tag=secrets.token_hex(4))
        return response.serialize()
    except (SipParseError, ValueError):
        return None


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: SipServer) -> None:
        self._server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # asyncio hands a datagram endpoint's protocol a DatagramTransport; the signature is the base's.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if not data.strip():
            return  # CRLF keep-alive pings
        transport = self.transport
        assert transport is not None
        address = (addr[0], addr[1])
        try:
            message = parse_message(data, self._server.max_message_bytes)
        except SipParseError as exc:
            log.warning("malformed SIP datagram from %s:%d: %s", addr[0], addr[1], exc)
            answer = bad_request(exc)
            if answer is not None:
                transport.sendto(answer, address)
            return
        peer = Peer(Transport.UDP, address, lambda raw: transport.sendto(raw, address))
        self._server.dispatch(message, peer)


class SipServer:
    """Listens on one host and port over UDP and TCP (port 0: the OS picks, same for both);
    ``transports`` may name only one of them."""

    def __init__(
        self,
        host: str,
        port: int,
        handler: Handler,
        transports: tuple[str, ...] = ("udp", "tcp"),
        *,
        limits: TcpLimits | None = None,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
    ) -> None:
        self.host = host
        self.port = port
        self.transports = transports
        self.limits = limits or TcpLimits()
        self.max_message_bytes = max_message_bytes
        self._handler = handler
        self._numbers = itertools.count(1)
        self._per_host: Counter[str] = Counter()
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        # Open TCP connections by the device's address: requests to a TCP device (queries,
        # INVITE, BYE) go over the connection it registered on, as GB/T 28181 devices expect.
        self._tcp_peers: dict[tuple[str, int], tuple[int, asyncio.StreamWriter]] = {}

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        # Bind TCP first so port 0 yields a port that UDP can then also take.
        if "tcp" in self.transports:
            self._tcp = await asyncio.start_server(self._serve_tcp, self.host, self.port)
            self.port = self._tcp.sockets[0].getsockname()[1]
        if "udp" in self.transports:
            try:
                self._udp, _ = await loop.create_datagram_endpoint(
                    lambda: _UdpProtocol(self), local_addr=(self.host, self.port)
                )
            except OSError:
                await self.stop()
                raise
            self.port = self._udp.get_extra_info("sockname")[1]

    async def stop(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
        for writer in list(self._writers):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tcp is not None:
            await self._tcp.wait_closed()

    def send(self, transport: Transport, address: tuple[str, int], raw: bytes) -> None:
        """Send a request we originate: UDP to the address, TCP on the device's open connection."""
        if transport is Transport.UDP:
            if self._udp is None:
                raise ConnectionError("SIP server not started")
            self._udp.sendto(raw, address)
            return
        _, writer = self._tcp_peers.get(address, (0, None))
        if writer is None or writer.is_closing():
            raise ConnectionError(f"no open SIP/TCP connection from {address[0]}:{address[1]}")
        writer.write(raw)

    def connection_of(self, address: tuple[str, int]) -> int:
        """The number of the open TCP connection from ``address``; 0 if there is none."""
        number, writer = self._tcp_peers.get(address, (0, None))
        return number if writer is not None and not writer.is_closing() else 0

    @property
    def tcp_connections(self) -> int:
        return len(self._writers)

    def dispatch(self, message: SipRequest | SipResponse, peer: Peer) -> None:
        task = asyncio.get_running_loop().create_task(self._run_handler(message, peer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_handler(self, message: SipRequest | SipResponse, peer: Peer) -> None:
        try:
            await self._handler(message, peer)
        except Exception:
            # One bad message must not take the platform down for every other camera.
            log.exception("SIP handler failed for a message from %s:%d", *peer.address)

    def _refusal(self, host: str) -> str:
        if len(self._writers) >= self.limits.max_connections:
            return f"{len(self._writers)} connections open, the most allowed"
        if self._per_host[host] >= self.limits.max_per_peer:
            return f"{self._per_host[host]} connections from this address already, the most allowed"
        return ""

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host, port = writer.get_extra_info("peername")[:2]
        refusal = self._refusal(host)
        if refusal:
            log.warning("SIP/TCP connection from %s:%d refused: %s", host, port, refusal)
            writer.close()
            return
        number = next(self._numbers)
        self._writers.add(writer)
        self._per_host[host] += 1
        self._tcp_peers[(host, port)] = (number, writer)
        peer = Peer(Transport.TCP, (host, port), writer.write, number)
        try:
            await self._read_tcp(reader, writer, peer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(writer)
            self._per_host[host] -= 1
            if self._per_host[host] <= 0:
                del self._per_host[host]
            if self._tcp_peers.get((host, port), (0, None))[1] is writer:
                del self._tcp_peers[(host, port)]
            writer.close()

    async def _read_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: Peer) -> None:
        framer = StreamFramer(self.max_message_bytes)
        loop = asyncio.get_running_loop()
        limits = self.limits
        begun: float | None = None  # when the message being received started to arrive
        where = f"{peer.address[0]}:{peer.address[1]}"
        while True:
            timeout = limits.idle_timeout_s
            if begun is not None:
                timeout = min(timeout, begun + limits.message_timeout_s - loop.time())
            try:
                if timeout <= 0:
                    raise TimeoutError
                data = await asyncio.wait_for(reader.read(65536), timeout)
            except TimeoutError:
                if begun is None:
                    log.info("closing SIP/TCP from %s: silent for %g s", where, limits.idle_timeout_s)
                else:
                    log.warning(
                        "closing SIP/TCP from %s: a message begun was not complete within %g s (%d bytes)",
                        where,
                        limits.message_timeout_s,
                        framer.pending,
                    )
                return
            if not data:
                return
            try:
                messages = framer.feed(data)
            except SipParseError as exc:
                # The stream has lost its framing; nothing after this point can be trusted.
                log.warning("closing SIP/TCP from %s: %s", where, exc)
                answer = bad_request(exc)
                if answer is not None:
                    writer.write(answer)
                return
            for message in messages:
                self.dispatch(message, peer)
            if not framer.pending:
                begun = None
            elif begun is None or messages:
                begun = loop.time()
