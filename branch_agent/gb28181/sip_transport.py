"""SIP over UDP and TCP for the platform: sockets in, parsed messages out, replies back.

A reply goes back the way the request came: over UDP to the packet's source address (RFC 3581
``rport``, because branch cameras often sit behind NAT), over TCP on the same connection.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import cast

from branch_agent.gb28181.devices import Transport
from branch_agent.gb28181.sip_message import (
    SipParseError,
    SipRequest,
    SipResponse,
    StreamFramer,
    parse_message,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Peer:
    """Who sent a message and how to answer them."""

    transport: Transport
    address: tuple[str, int]
    send: Callable[[bytes], None]


Handler = Callable[[SipRequest | SipResponse, Peer], Awaitable[None]]


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
        try:
            message = parse_message(data)
        except SipParseError as exc:
            log.warning("dropped malformed SIP datagram from %s:%d: %s", addr[0], addr[1], exc)
            return
        transport = self.transport
        assert transport is not None
        address = (addr[0], addr[1])
        peer = Peer(Transport.UDP, address, lambda raw: transport.sendto(raw, address))
        self._server.dispatch(message, peer)


class SipServer:
    """Listens on one host and port over UDP and TCP (port 0: the OS picks, same for both);
    ``transports`` may name only one of them."""

    def __init__(self, host: str, port: int, handler: Handler, transports: tuple[str, ...] = ("udp", "tcp")) -> None:
        self.host = host
        self.port = port
        self.transports = transports
        self._handler = handler
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        # Open TCP connections by the device's address: requests to a TCP device (queries,
        # INVITE, BYE) go over the connection it registered on, as GB/T 28181 devices expect.
        self._tcp_peers: dict[tuple[str, int], asyncio.StreamWriter] = {}

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
        writer = self._tcp_peers.get(address)
        if writer is None or writer.is_closing():
            raise ConnectionError(f"no open SIP/TCP connection from {address[0]}:{address[1]}")
        writer.write(raw)

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

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        host, port = writer.get_extra_info("peername")[:2]
        peer = Peer(Transport.TCP, (host, port), writer.write)
        self._tcp_peers[(host, port)] = writer
        framer = StreamFramer()
        try:
            while data := await reader.read(65536):
                try:
                    messages = framer.feed(data)
                except SipParseError as exc:
                    # The stream has lost its framing; nothing after this point can be trusted.
                    log.warning("closing SIP/TCP from %s:%d: %s", host, port, exc)
                    break
                for message in messages:
                    self.dispatch(message, peer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(writer)
            if self._tcp_peers.get((host, port)) is writer:
                del self._tcp_peers[(host, port)]
            writer.close()
