"""A hand-driven GB/T 28181 camera on raw sockets, for what SIPp cannot script exactly: answers
out of order, lost ACKs, duplicate and late Responses, GB18030 bodies, wrong tags.

The camera is put in the platform's device table directly (no REGISTER): registration is
covered by the registrar tests, and these tests are about what happens after it.
"""

from __future__ import annotations

import asyncio
import socket

from branch_agent.gb28181.devices import Transport
from branch_agent.gb28181.platform import GbPlatform
from branch_agent.gb28181.sip_message import (
    SipRequest,
    SipResponse,
    StreamFramer,
    make_response,
    parse_message,
)

DEADLINE_S = 10.0


class RawCamera:
    def __init__(self, platform: GbPlatform, device_id: str, transport: Transport = Transport.UDP) -> None:
        self.platform = platform
        self.device_id = device_id
        self.transport = transport
        self.server = ("127.0.0.1", platform.port)
        kind = socket.SOCK_DGRAM if transport is Transport.UDP else socket.SOCK_STREAM
        self.sock = socket.socket(socket.AF_INET, kind)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self._framer = StreamFramer()
        self._queue: list[SipRequest | SipResponse] = []
        self._cseq = 100
        self.set_aside: list[SipRequest] = []
        self._seen: set[bytes] = set()

    async def attach(self) -> None:
        """Connect (TCP) and enter the device table as a registered, online device."""
        loop = asyncio.get_running_loop()
        self.sock.setblocking(False)
        if self.transport is Transport.TCP:
            await loop.sock_connect(self.sock, self.server)
            # Let the server see the connection before we are "registered" (bound to it).
            for _ in range(int(DEADLINE_S / 0.01)):
                if self.platform.connection_of(Transport.TCP, ("127.0.0.1", self.port)):
                    break
                await asyncio.sleep(0.01)
        self.platform.devices.register(
            self.device_id,
            self.transport,
            ("127.0.0.1", self.port),
            f"sip:{self.device_id}@127.0.0.1:{self.port}",
            3600,
            self.platform._clock(),
            # Bound to this socket's TCP connection, as a REGISTER on it would have bound it.
            connection=self.platform.connection_of(self.transport, ("127.0.0.1", self.port)),
        )

    def close(self) -> None:
        self.sock.close()

    async def send(self, raw: bytes) -> None:
        loop = asyncio.get_running_loop()
        if self.transport is Transport.UDP:
            await loop.sock_sendto(self.sock, raw, self.server)
        else:
            await loop.sock_sendall(self.sock, raw)

    async def recv(self, timeout_s: float = DEADLINE_S) -> SipRequest | SipResponse:
        loop = asyncio.get_running_loop()
        while not self._queue:
            if self.transport is Transport.UDP:
                data, _ = await asyncio.wait_for(loop.sock_recvfrom(self.sock, 65536), timeout_s)
                self._queue.append(parse_message(data))
            else:
                data = await asyncio.wait_for(loop.sock_recv(self.sock, 65536), timeout_s)
                if not data:
                    raise ConnectionError("platform closed the connection")
                self._queue.extend(self._framer.feed(data))
        return self._queue.pop(0)

    async def recv_request(self, method: str, timeout_s: float = DEADLINE_S) -> SipRequest:
        """The next ``method`` request; UDP retransmissions of earlier requests are skipped."""
        while True:
            message = await self.recv(timeout_s)
            assert isinstance(message, SipRequest), message
            key = message.serialize()
            if message.method != method and key in self._seen:
                continue
            assert message.method == method, message
            self._seen.add(key)
            return message

    async def silent_for(self, seconds: float) -> bool:
        """True if nothing arrives for ``seconds``."""
        try:
            await self.recv(seconds)
        except TimeoutError:
            return True
        return False

    async def answer(
        self,
        request: SipRequest,
        status: int,
        reason: str,
        body: bytes = b"",
        content_type: str | None = None,
        to_tag: str = "camtag",
        contact: bool = False,
    ) -> SipResponse:
        response = make_response(request, status, reason, to_tag=to_tag if status > 100 else None)
        if contact:
            response.set("Contact", f"<sip:{self.device_id}@127.0.0.1:{self.port}>")
        if content_type:
            response.set("Content-Type", content_type)
        response.body = body
        await self.send(response.serialize())
        return response

    def request(
        self,
        method: str,
        body: bytes = b"",
        content_type: str | None = None,
        call_id: str | None = None,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> bytes:
        self._cseq += 1
        transport = self.transport.value
        lines = [
            f"{method} sip:{self.platform.config.server_id}@{self.platform.config.domain} SIP/2.0",
            f"Via: SIP/2.0/{transport} 127.0.0.1:{self.port};rport;branch=z9hG4bKcam{self._cseq}",
            f"From: <sip:{self.device_id}@{self.platform.config.domain}>;tag=cam{self._cseq}",
            f"To: <sip:{self.platform.config.server_id}@{self.platform.config.domain}>",
            f"Call-ID: {call_id or f'cam-{self._cseq}@127.0.0.1'}",
            f"CSeq: {self._cseq} {method}",
            "Max-Forwards: 70",
            *(f"{name}: {value}" for name, value in headers),
        ]
        if content_type:
            lines.append(f"Content-Type: {content_type}")
        lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    async def send_manscdp(self, body: bytes) -> SipResponse:
        """Send a MESSAGE and wait for the platform's answer to it."""
        await self.send(self.request("MESSAGE", body, "Application/MANSCDP+xml"))
        while True:
            answer = await self.recv()
            if isinstance(answer, SipResponse):
                return answer
            # A retransmission of the platform's unanswered query may come first: set it aside.
            self.set_aside.append(answer)
