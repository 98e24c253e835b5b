"""What a hostile or broken client on the branch LAN cannot do to the SIP server: hold many TCP
connections, keep one idle or trickle a header forever, send an oversized message, or crash the
parser with Unicode digits (``²`` passes ``str.isdigit`` but is no number on the wire)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable

import pytest

from branch_agent.gb28181.devices import GbPlatformConfig, Transport
from branch_agent.gb28181.platform import GbPlatform
from branch_agent.gb28181.sip_message import SipResponse, StreamFramer, parse_message
from tests.peers.gb_device.sip_camera import SipCamera

SERVER_ID = "34020000002000000001"
DOMAIN = "3402000000"
CAMERA = "34020000001320000264"
PASSWORD = "pw"
DEADLINE_S = 10.0


def config(**overrides: object) -> GbPlatformConfig:
    values: dict[str, object] = dict(
        server_id=SERVER_ID, domain=DOMAIN, host="127.0.0.1", port=0, default_password=PASSWORD
    )
    values.update(overrides)
    return GbPlatformConfig(**values)  # type: ignore[arg-type]


def run(cfg: GbPlatformConfig, body: Callable[[GbPlatform], Awaitable[None]]) -> None:
    async def main() -> None:
        platform = GbPlatform(cfg)
        await platform.start()
        try:
            await body(platform)
        finally:
            await platform.stop()

    asyncio.run(main())


def request(cseq: str = "1 MESSAGE", length: str | None = None, body: bytes = b"", transport: str = "UDP") -> bytes:
    head = (
        f"MESSAGE sip:{SERVER_ID}@{DOMAIN} SIP/2.0\r\n"
        f"Via: SIP/2.0/{transport} 127.0.0.1:5999;rport;branch=z9hG4bKlim{abs(hash(cseq + str(length)))}\r\n"
        f"From: <sip:{CAMERA}@{DOMAIN}>;tag=x\r\nTo: <sip:{SERVER_ID}@{DOMAIN}>\r\n"
        f"Call-ID: lim@127.0.0.1\r\nCSeq: {cseq}\r\nContent-Type: Application/MANSCDP+xml\r\n"
        f"Content-Length: {length if length is not None else len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def udp_exchange(port: int, data: bytes) -> SipResponse:
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        await loop.sock_sendto(sock, data, ("127.0.0.1", port))
        raw, _ = await asyncio.wait_for(loop.sock_recvfrom(sock, 65536), DEADLINE_S)
    answer = parse_message(raw)
    assert isinstance(answer, SipResponse)
    return answer


async def tcp_connect(port: int, local_ip: str = "127.0.0.1") -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port, local_addr=(local_ip, 0))


async def closed_by_server(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sent until it closed the connection (raises TimeoutError if it does not)."""
    received = b""
    while True:
        try:
            data = await asyncio.wait_for(reader.read(65536), DEADLINE_S)
        except ConnectionResetError:
            return received
        if not data:
            return received
        received += data


async def still_served(port: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """The connection still gets answers: an unauthenticated REGISTER is challenged."""
    cam = SipCamera(port, CAMERA, server_id=SERVER_ID, domain=DOMAIN, transport=Transport.TCP)
    try:
        writer.write(cam.register_request())
        await writer.drain()
        framer = StreamFramer()
        while True:
            data = await asyncio.wait_for(reader.read(65536), DEADLINE_S)
            assert data, "the server closed a connection within the limits"
            answers = [m for m in framer.feed(data) if isinstance(m, SipResponse)]
            if answers:
                assert answers[0].status == 401
                return
    finally:
        cam.close()


# -- Unicode digits ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cseq", "length", "named"),
    [("² MESSAGE", None, "CSeq"), ("1 MESSAGE", "²", "Content-Length"), ("1 MESSAGE", "١٠", "Content-Length")],
    ids=["cseq-superscript", "content-length-superscript", "content-length-arabic-indic"],
)
def test_unicode_digits_get_a_400_over_udp(cseq: str, length: str | None, named: str) -> None:
    async def body(platform: GbPlatform) -> None:
        answer = await udp_exchange(platform.port, request(cseq, length))
        assert answer.status == 400, answer
        assert named in answer.reason

    run(config(), body)


def test_unicode_digit_in_content_length_over_tcp_gets_a_400_then_the_connection_closes() -> None:
    async def body(platform: GbPlatform) -> None:
        reader, writer = await tcp_connect(platform.port)
        writer.write(request(length="²", transport="TCP"))
        await writer.drain()
        sent = await closed_by_server(reader)
        [answer] = StreamFramer().feed(sent)
        assert isinstance(answer, SipResponse) and answer.status == 400 and "Content-Length" in answer.reason
        writer.close()

    run(config(), body)


def test_unicode_digit_in_expires_of_an_authenticated_register_gets_a_400() -> None:
    async def body(platform: GbPlatform) -> None:
        cam = SipCamera(platform.port, CAMERA, server_id=SERVER_ID, domain=DOMAIN, password=PASSWORD)
        try:
            answer = await cam.register(expires="³⁶⁰⁰")
            assert answer.status == 400 and "Expires" in answer.reason
            assert platform.devices.get(CAMERA) is None
        finally:
            cam.close()

    run(config(), body)


# -- TCP connection caps, idle and message deadlines, message size ------------------------------


def test_connections_beyond_the_per_peer_cap_are_closed_and_the_others_served() -> None:
    async def body(platform: GbPlatform) -> None:
        first = await tcp_connect(platform.port)
        second = await tcp_connect(platform.port)
        third = await tcp_connect(platform.port)
        assert await closed_by_server(third[0]) == b""
        # Another host is not affected by this one's cap.
        elsewhere = await tcp_connect(platform.port, "127.0.0.2")
        for reader, writer in (first, second, elsewhere):
            await still_served(platform.port, reader, writer)
        for _, writer in (first, second, third, elsewhere):
            writer.close()

    run(config(tcp_max_connections_per_peer=2), body)


def test_connections_beyond_the_total_cap_are_closed() -> None:
    async def body(platform: GbPlatform) -> None:
        kept = [await tcp_connect(platform.port, f"127.0.0.{n}") for n in (1, 2, 3)]
        extra = await tcp_connect(platform.port, "127.0.0.4")
        assert await closed_by_server(extra[0]) == b""
        await still_served(platform.port, *kept[0])
        # A closed connection frees its place.
        kept[1][1].close()
        await kept[1][1].wait_closed()
        for _ in range(100):
            await asyncio.sleep(0.02)
            if platform.tcp_connections < 3:
                break
        again = await tcp_connect(platform.port, "127.0.0.5")
        await still_served(platform.port, *again)
        for _, writer in (*kept, extra, again):
            writer.close()

    run(config(tcp_max_connections=3), body)


def test_idle_connection_is_closed() -> None:
    async def body(platform: GbPlatform) -> None:
        reader, writer = await tcp_connect(platform.port)
        assert await closed_by_server(reader) == b""
        writer.close()

    run(config(tcp_idle_timeout_s=0.3), body)


def test_header_trickled_byte_by_byte_is_cut_off() -> None:
    async def body(platform: GbPlatform) -> None:
        reader, writer = await tcp_connect(platform.port)
        endless = request(transport="TCP").split(b"\r\n\r\n")[0] + b"\r\nX-Padding: "

        async def trickle() -> None:
            try:
                for i in range(100000):
                    writer.write(endless[i : i + 1] if i < len(endless) else b"a")
                    await writer.drain()
                    await asyncio.sleep(0.01)
            except OSError:
                pass  # the server hung up: what this test waits for

        sender = asyncio.create_task(trickle())
        try:
            # Every byte arrives well within the idle timeout; the message as a whole never ends.
            assert await closed_by_server(reader) == b""
        finally:
            sender.cancel()
            writer.close()

    run(config(tcp_idle_timeout_s=30, sip_message_timeout_s=0.5), body)


def test_message_longer_than_the_limit_gets_a_400_and_the_connection_closes() -> None:
    async def body(platform: GbPlatform) -> None:
        reader, writer = await tcp_connect(platform.port)
        writer.write(request(length="100000", transport="TCP"))
        await writer.drain()
        [answer] = StreamFramer().feed(await closed_by_server(reader))
        assert isinstance(answer, SipResponse) and answer.status == 400 and "exceeds" in answer.reason
        writer.close()

    run(config(max_message_bytes=8192), body)


def test_header_longer_than_the_limit_closes_the_connection() -> None:
    async def body(platform: GbPlatform) -> None:
        reader, writer = await tcp_connect(platform.port)
        writer.write(request(transport="TCP").split(b"\r\n\r\n")[0] + b"\r\nX-Padding: " + b"a" * 10000)
        await writer.drain()
        assert await closed_by_server(reader) == b""
        writer.close()

    run(config(max_message_bytes=8192), body)


def test_udp_message_longer_than_the_limit_gets_a_400() -> None:
    async def body(platform: GbPlatform) -> None:
        answer = await udp_exchange(platform.port, request(body=b"<a/>" * 3000))
        assert answer.status == 400 and "exceeds" in answer.reason

    run(config(max_message_bytes=8192), body)
