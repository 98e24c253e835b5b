"""Registrar behaviour SIPp cannot script precisely: byte-identical retransmissions, GB18030
keepalives, TCP messages split across writes, refused intervals. Real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket

from branch_agent.gb28181.devices import GbPlatformConfig, Transport
from branch_agent.gb28181.registrar import Registrar, gb_date
from branch_agent.gb28181.sip_digest import DigestChallenge, authorization_header, parse_auth_params
from branch_agent.gb28181.sip_message import SipResponse, StreamFramer, parse_message, parse_name_addr

SERVER_ID = "34020000002000000001"
DOMAIN = "3402000000"
CAMERA = "34020000001320000264"
PASSWORD = "12345678"
URI = f"sip:{SERVER_ID}@{DOMAIN}"
DEADLINE_S = 30.0


def config(**overrides: object) -> GbPlatformConfig:
    values: dict[str, object] = dict(
        server_id=SERVER_ID, domain=DOMAIN, host="127.0.0.1", port=0, passwords={CAMERA: PASSWORD}
    )
    values.update(overrides)
    return GbPlatformConfig(**values)  # type: ignore[arg-type]


def register(
    cseq: int, branch: str, port: int, expires: int = 3600, auth: str | None = None, transport: str = "UDP"
) -> bytes:
    lines = [
        f"REGISTER {URI} SIP/2.0",
        f"Via: SIP/2.0/{transport} 127.0.0.1:{port};rport;branch={branch}",
        f"From: <sip:{CAMERA}@{DOMAIN}>;tag=cam1",
        f"To: <sip:{CAMERA}@{DOMAIN}>",
        "Call-ID: reg-1@127.0.0.1",
        f"CSeq: {cseq} REGISTER",
        f"Contact: <sip:{CAMERA}@127.0.0.1:{port}>",
        "Max-Forwards: 70",
        f"Expires: {expires}",
    ]
    if auth:
        lines.append(f"Authorization: {auth}")
    return ("\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n").encode()


def keepalive(cseq: int, port: int, body: bytes, transport: str = "UDP") -> bytes:
    head = (
        f"MESSAGE {URI} SIP/2.0\r\n"
        f"Via: SIP/2.0/{transport} 127.0.0.1:{port};rport;branch=z9hG4bKka{cseq}\r\n"
        f"From: <sip:{CAMERA}@{DOMAIN}>;tag=ka\r\nTo: <sip:{SERVER_ID}@{DOMAIN}>\r\n"
        f"Call-ID: ka-{cseq}\r\nCSeq: {cseq} MESSAGE\r\nContent-Type: Application/MANSCDP+xml\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def keepalive_body(encoding: str = "GB2312", note: str = "") -> bytes:
    text = (
        f'<?xml version="1.0" encoding="{encoding}"?>\r\n<Notify>\r\n<CmdType>Keepalive</CmdType>\r\n'
        f"<SN>7</SN>\r\n<DeviceID>{CAMERA}</DeviceID>\r\n<Status>OK</Status>\r\n<Info>{note}</Info>\r\n</Notify>\r\n"
    )
    return text.encode("gb18030" if encoding.upper().startswith("GB") else "utf-8")


class UdpCamera:
    def __init__(self, server_port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.server = ("127.0.0.1", server_port)

    async def exchange(self, data: bytes) -> bytes:
        loop = asyncio.get_running_loop()
        await loop.sock_sendto(self.sock, data, self.server)
        raw, _ = await asyncio.wait_for(loop.sock_recvfrom(self.sock, 65536), DEADLINE_S)
        return raw

    def close(self) -> None:
        self.sock.close()


def challenge_of(raw: bytes) -> DigestChallenge:
    response = parse_message(raw)
    assert isinstance(response, SipResponse) and response.status == 401, raw
    _, params = parse_auth_params(response.require("WWW-Authenticate"))
    return DigestChallenge(realm=params["realm"], nonce=params["nonce"], qop=params.get("qop"))


async def run(cfg: GbPlatformConfig, body, clock=None):  # type: ignore[no-untyped-def]
    registrar = Registrar(cfg, clock=clock) if clock else Registrar(cfg)
    await registrar.start()
    try:
        return await body(registrar)
    finally:
        await registrar.stop()


def test_retransmitted_register_gets_the_same_answer_and_is_processed_once() -> None:
    async def body(registrar: Registrar) -> None:
        cam = UdpCamera(registrar.port)
        try:
            challenge = challenge_of(await cam.exchange(register(1, "z9hG4bK1", cam.port)))
            auth = authorization_header(challenge, username=CAMERA, password=PASSWORD, method="REGISTER", uri=URI)
            request = register(2, "z9hG4bK2", cam.port, auth=auth)
            first = await cam.exchange(request)
            registered_at = registrar.devices.get(CAMERA).registered_at  # type: ignore[union-attr]
            again = await cam.exchange(request)
            # Byte-identical, same To tag: the camera sees one transaction, not two registrations.
            assert again == first
            assert registrar.devices.get(CAMERA).registered_at == registered_at  # type: ignore[union-attr]
            response = parse_message(first)
            assert isinstance(response, SipResponse) and response.status == 200
            # rport answered with the port the packet came from (RFC 3581).
            assert f"rport={cam.port}" in response.get_all("Via")[0]
            assert "received=127.0.0.1" in response.get_all("Via")[0]
        finally:
            cam.close()

    asyncio.run(run(config(), body))


def test_gb18030_keepalive_is_answered_and_unregistered_device_is_refused() -> None:
    async def body(registrar: Registrar) -> None:
        cam = UdpCamera(registrar.port)
        try:
            refused = parse_message(await cam.exchange(keepalive(1, cam.port, keepalive_body())))
            assert isinstance(refused, SipResponse) and refused.status == 403

            challenge = challenge_of(await cam.exchange(register(1, "z9hG4bKa", cam.port)))
            auth = authorization_header(challenge, username=CAMERA, password=PASSWORD, method="REGISTER", uri=URI)
            await cam.exchange(register(2, "z9hG4bKb", cam.port, auth=auth))

            raw = await cam.exchange(keepalive(2, cam.port, keepalive_body("GB18030", "营业厅")))
            answer = parse_message(raw)
            assert isinstance(answer, SipResponse) and answer.status == 200
            assert registrar.devices.get(CAMERA).last_keepalive is not None  # type: ignore[union-attr]

            bad = parse_message(await cam.exchange(keepalive(3, cam.port, b"<Notify><CmdType>")))
            assert isinstance(bad, SipResponse) and bad.status == 400 and "well-formed" in bad.reason
        finally:
            cam.close()

    asyncio.run(run(config(), body))


def test_silent_device_goes_offline_and_returns_with_its_next_keepalive() -> None:
    async def body(registrar: Registrar) -> None:
        cam = UdpCamera(registrar.port)
        try:
            challenge = challenge_of(await cam.exchange(register(1, "z9hG4bKs1", cam.port)))
            auth = authorization_header(challenge, username=CAMERA, password=PASSWORD, method="REGISTER", uri=URI)
            await cam.exchange(register(2, "z9hG4bKs2", cam.port, auth=auth))
            await registrar.wait_for(lambda t: not t.get(CAMERA).online, DEADLINE_S)  # type: ignore[union-attr]
            answer = parse_message(await cam.exchange(keepalive(3, cam.port, keepalive_body())))
            assert isinstance(answer, SipResponse) and answer.status == 200
            assert registrar.devices.get(CAMERA).online  # type: ignore[union-attr]
        finally:
            cam.close()

    asyncio.run(run(config(keepalive_interval_s=0.2), body))


def test_answer_to_an_old_challenge_is_rechallenged_as_stale() -> None:
    now = [1000.0]

    async def body(registrar: Registrar) -> None:
        cam = UdpCamera(registrar.port)
        try:
            challenge = challenge_of(await cam.exchange(register(1, "z9hG4bKo1", cam.port)))
            now[0] += 301  # past the 300 s nonce lifetime, without waiting for it
            auth = authorization_header(challenge, username=CAMERA, password=PASSWORD, method="REGISTER", uri=URI)
            raw = await cam.exchange(register(2, "z9hG4bKo2", cam.port, auth=auth))
            assert "stale=true" in raw.decode()
            fresh = challenge_of(raw)
            auth = authorization_header(fresh, username=CAMERA, password=PASSWORD, method="REGISTER", uri=URI)
            ok = parse_message(await cam.exchange(register(3, "z9hG4bKo3", cam.port, auth=auth)))
            assert isinstance(ok, SipResponse) and ok.status == 200
        finally:
            cam.close()

    asyncio.run(run(config(), body, clock=lambda: now[0]))


def test_too_short_interval_is_refused_with_min_expires() -> None:
    async def body(registrar: Registrar) -> None:
        cam = UdpCamera(registrar.port)
        try:
            challenge = challenge_of(await cam.exchange(register(1, "z9hG4bKx", cam.port, expires=5)))
            auth = authorization_header(challenge, username=CAMERA, password=PASSWORD, method="REGISTER", uri=URI)
            response = parse_message(await cam.exchange(register(2, "z9hG4bKy", cam.port, expires=5, auth=auth)))
            assert isinstance(response, SipResponse) and response.status == 423
            assert response.get("Min-Expires") == "60"
            assert registrar.devices.get(CAMERA) is None
        finally:
            cam.close()

    asyncio.run(run(config(), body))


def test_long_interval_is_capped_to_the_configured_maximum() -> None:
    async def body(registrar: Registrar) -> None:
        cam = UdpCamera(registrar.port)
        try:
            challenge = challenge_of(await cam.exchange(register(1, "z9hG4bKm", cam.port, expires=86400)))
            auth = authorization_header(challenge, username=CAMERA, password=PASSWORD, method="REGISTER", uri=URI)
            response = parse_message(await cam.exchange(register(2, "z9hG4bKn", cam.port, expires=86400, auth=auth)))
            assert isinstance(response, SipResponse) and response.get("Expires") == "600"
            assert registrar.devices.get(CAMERA).expires_s == 600  # type: ignore[union-attr]
        finally:
            cam.close()

    asyncio.run(run(config(max_expires_s=600), body))


def test_tcp_messages_split_and_joined_across_writes() -> None:
    async def body(registrar: Registrar) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", registrar.port)
        framer = StreamFramer()
        port = writer.get_extra_info("sockname")[1]

        async def answers(count: int) -> list[SipResponse]:
            got: list[SipResponse] = []
            while len(got) < count:
                data = await asyncio.wait_for(reader.read(65536), DEADLINE_S)
                assert data, "platform closed the TCP connection"
                got += [m for m in framer.feed(data) if isinstance(m, SipResponse)]
            return got

        try:
            first = register(1, "z9hG4bKt1", port, transport="TCP")
            # Split mid-header: the platform must wait for the rest.
            writer.write(first[:25])
            await writer.drain()
            writer.write(first[25:])
            [resp] = await answers(1)
            challenge = challenge_of(resp.serialize())
            auth = authorization_header(challenge, username=CAMERA, password=PASSWORD, method="REGISTER", uri=URI)
            # Registration and a keepalive in one write.
            writer.write(
                register(2, "z9hG4bKt2", port, auth=auth, transport="TCP")
                + keepalive(3, port, keepalive_body(), transport="TCP")
            )
            got = await answers(2)
            assert sorted(r.cseq for r in got) == [(2, "REGISTER"), (3, "MESSAGE")]
            assert all(r.status == 200 for r in got)
            record = registrar.devices.get(CAMERA)
            assert record is not None and record.transport is Transport.TCP and record.last_keepalive
            assert parse_name_addr(got[0].require("To")).tag
        finally:
            writer.close()

    asyncio.run(run(config(), body))


def test_gb_date_format() -> None:
    assert gb_date(dt.datetime(2026, 1, 2, 3, 4, 5, 67_890)) == "2026-01-02T03:04:05.067"
