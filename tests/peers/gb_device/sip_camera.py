"""A GB/T 28181 camera's SIP side on raw sockets that really registers (digest, UDP or TCP) from
a chosen loopback address, for the tests where *who* sends a message matters: a second instance
with the same device ID plays an attacker on the branch LAN (another address, another port,
another TCP connection), and ``last_authorization`` is what a sniffer would have captured.
"""

from __future__ import annotations

import asyncio
import socket

from branch_agent.gb28181.devices import Transport
from branch_agent.gb28181.sip_digest import DigestChallenge, authorization_header, parse_auth_params
from branch_agent.gb28181.sip_message import (
    SipRequest,
    SipResponse,
    StreamFramer,
    make_response,
    parse_message,
)

DEADLINE_S = 10.0


class SipCamera:
    def __init__(
        self,
        server_port: int,
        device_id: str,
        *,
        server_id: str,
        domain: str,
        password: str = "",
        transport: Transport = Transport.UDP,
        local_ip: str = "127.0.0.1",
    ) -> None:
        self.device_id = device_id
        self.server_id = server_id
        self.domain = domain
        self.password = password
        self.transport = transport
        self.server = ("127.0.0.1", server_port)
        kind = socket.SOCK_DGRAM if transport is Transport.UDP else socket.SOCK_STREAM
        self.sock = socket.socket(socket.AF_INET, kind)
        self.sock.bind((local_ip, 0))
        self.sock.setblocking(False)
        self.local_ip = local_ip
        self.port = int(self.sock.getsockname()[1])
        self._framer = StreamFramer()
        self._queue: list[SipRequest | SipResponse] = []
        self._cseq = 0
        self._connected = False
        self.last_authorization: str | None = None
        self.challenge: DigestChallenge | None = None
        self.nc = 0

    @property
    def uri(self) -> str:
        return f"sip:{self.server_id}@{self.domain}"

    async def connect(self) -> None:
        if self.transport is Transport.TCP and not self._connected:
            await asyncio.get_running_loop().sock_connect(self.sock, self.server)
            self._connected = True

    def close(self) -> None:
        self.sock.close()

    async def send(self, raw: bytes) -> None:
        loop = asyncio.get_running_loop()
        if self.transport is Transport.UDP:
            await loop.sock_sendto(self.sock, raw, self.server)
        else:
            await self.connect()
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

    async def recv_response(self, timeout_s: float = DEADLINE_S) -> SipResponse:
        """The next answer; requests arriving meanwhile are kept for ``recv_request``."""
        held: list[SipRequest | SipResponse] = []
        try:
            while True:
                message = await self.recv(timeout_s)
                if isinstance(message, SipResponse):
                    return message
                held.append(message)
        finally:
            self._queue[:0] = held

    async def recv_request(self, method: str, timeout_s: float = DEADLINE_S) -> SipRequest:
        """The next ``method`` request (UDP retransmissions of it and other requests are skipped)."""
        while True:
            message = await self.recv(timeout_s)
            if isinstance(message, SipRequest) and message.method == method:
                return message

    def request(
        self,
        method: str,
        body: bytes = b"",
        content_type: str | None = None,
        headers: tuple[tuple[str, str], ...] = (),
        to_user: str | None = None,
    ) -> bytes:
        self._cseq += 1
        lines = [
            f"{method} {self.uri} SIP/2.0",
            f"Via: SIP/2.0/{self.transport.value} {self.local_ip}:{self.port};rport;"
            f"branch=z9hG4bK{self.local_ip.replace('.', '')}x{self.port}x{self._cseq}",
            f"From: <sip:{self.device_id}@{self.domain}>;tag=t{self.port}",
            f"To: <sip:{to_user or self.server_id}@{self.domain}>",
            f"Call-ID: c{self._cseq}-{self.port}@{self.local_ip}",
            f"CSeq: {self._cseq} {method}",
            "Max-Forwards: 70",
            *(f"{name}: {value}" for name, value in headers),
        ]
        if content_type:
            lines.append(f"Content-Type: {content_type}")
        lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    def register_request(self, authorization: str | None = None, expires: str = "3600") -> bytes:
        headers = [("Contact", f"<sip:{self.device_id}@{self.local_ip}:{self.port}>"), ("Expires", expires)]
        if authorization is not None:
            headers.append(("Authorization", authorization))
        return self.request("REGISTER", headers=tuple(headers), to_user=self.device_id)

    async def register(self, expires: str = "3600") -> SipResponse:
        """REGISTER, answer the 401 with digest, return the final answer (200 when all is well)."""
        await self.send(self.register_request(expires=expires))
        first = await self.recv_response()
        if first.status != 401:
            return first
        _, params = parse_auth_params(first.require("WWW-Authenticate"))
        self.challenge = DigestChallenge(realm=params["realm"], nonce=params["nonce"], qop=params.get("qop"))
        self.nc = 0
        return await self.register_again(expires)

    async def register_again(self, expires: str = "3600") -> SipResponse:
        """A refresh with the nonce already held and the next nc."""
        assert self.challenge is not None
        self.nc += 1
        self.last_authorization = authorization_header(
            self.challenge,
            username=self.device_id,
            password=self.password,
            method="REGISTER",
            uri=self.uri,
            nc=self.nc,
        )
        await self.send(self.register_request(self.last_authorization, expires))
        return await self.recv_response()

    async def message(self, body: bytes) -> SipResponse:
        await self.send(self.request("MESSAGE", body, "Application/MANSCDP+xml"))
        return await self.recv_response()

    async def keepalive(self, sn: int = 1) -> SipResponse:
        body = (
            f'<?xml version="1.0" encoding="GB2312"?>\r\n<Notify>\r\n<CmdType>Keepalive</CmdType>\r\n'
            f"<SN>{sn}</SN>\r\n<DeviceID>{self.device_id}</DeviceID>\r\n<Status>OK</Status>\r\n</Notify>\r\n"
        )
        return await self.message(body.encode())

    async def answer(
        self,
        request: SipRequest,
        status: int,
        reason: str,
        body: bytes = b"",
        content_type: str | None = None,
        contact: bool = False,
    ) -> SipResponse:
        response = make_response(request, status, reason, to_tag=f"cam{self.port}" if status > 100 else None)
        if contact:
            response.set("Contact", f"<sip:{self.device_id}@{self.local_ip}:{self.port}>")
        if content_type:
            response.set("Content-Type", content_type)
        response.body = body
        await self.send(response.serialize())
        return response
