"""SIP wire format as cameras send it: compact names, folding, several Via, TCP framing."""

from __future__ import annotations

import pytest

from branch_agent.gb28181.sip_message import (
    SipParseError,
    SipRequest,
    SipResponse,
    StreamFramer,
    make_response,
    parse_message,
    parse_name_addr,
    parse_via,
    sip_uri_host_port,
)

REGISTER = (
    b"REGISTER sip:34020000002000000001@3402000000 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.168.2.64:5060;rport;branch=z9hG4bK1235305492\r\n"
    b"From: <sip:34020000001320000264@3402000000>;tag=180588994\r\n"
    b"To: <sip:34020000001320000264@3402000000>\r\n"
    b"Call-ID: 575393982\r\n"
    b"CSeq: 1 REGISTER\r\n"
    b"Contact: <sip:34020000001320000264@192.168.2.64:5060>\r\n"
    b"Max-Forwards: 70\r\n"
    b"User-Agent: IP Camera\r\n"
    b"Expires: 3600\r\n"
    b"Content-Length: 0\r\n\r\n"
)

KEEPALIVE_BODY = (
    b'<?xml version="1.0" encoding="GB2312"?>\r\n<Notify>\r\n<CmdType>Keepalive</CmdType>\r\n'
    b"<SN>1563</SN>\r\n<DeviceID>34020000001320000264</DeviceID>\r\n<Status>OK</Status>\r\n</Notify>\r\n"
)


def keepalive(cseq: int) -> bytes:
    head = (
        "MESSAGE sip:34020000002000000001@3402000000 SIP/2.0\r\n"
        f"v: SIP/2.0/TCP 192.168.2.64:5060;branch=z9hG4bK{cseq}\r\n"
        "f: <sip:34020000001320000264@3402000000>;tag=1\r\n"
        "t: <sip:34020000002000000001@3402000000>\r\n"
        f"i: ka-{cseq}\r\n"
        f"CSeq: {cseq} MESSAGE\r\n"
        "c: Application/MANSCDP+xml\r\n"
        f"l: {len(KEEPALIVE_BODY)}\r\n\r\n"
    )
    return head.encode() + KEEPALIVE_BODY


def test_register_parses_into_request_with_headers() -> None:
    msg = parse_message(REGISTER)
    assert isinstance(msg, SipRequest)
    assert msg.method == "REGISTER"
    assert msg.uri == "sip:34020000002000000001@3402000000"
    assert msg.call_id == "575393982"
    assert msg.cseq == (1, "REGISTER")
    assert parse_name_addr(msg.require("From")).user == "34020000001320000264"
    assert parse_name_addr(msg.require("From")).tag == "180588994"
    assert parse_name_addr(msg.require("To")).tag is None
    assert msg.get("expires") == "3600"


def test_compact_forms_expand_to_full_names() -> None:
    msg = parse_message(keepalive(20))
    assert msg.call_id == "ka-20"
    assert msg.get("Content-Type") == "Application/MANSCDP+xml"
    assert parse_via(msg.get_all("Via")[0]).transport == "TCP"
    assert msg.body == KEEPALIVE_BODY


def test_folded_header_continues_previous_value() -> None:
    raw = REGISTER.replace(b"User-Agent: IP Camera\r\n", b"User-Agent: IP\r\n  Camera\r\n\tV2\r\n")
    assert parse_message(raw).get("User-Agent") == "IP Camera V2"


def test_multiple_via_in_one_header_and_repeated_headers() -> None:
    raw = REGISTER.replace(
        b"Via: SIP/2.0/UDP 192.168.2.64:5060;rport;branch=z9hG4bK1235305492\r\n",
        b"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa, SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKb\r\n"
        b"Via: SIP/2.0/TCP [2001:db8::1]:5070;branch=z9hG4bKc;received=1.2.3.4\r\n",
    )
    vias = [parse_via(v) for v in parse_message(raw).get_all("Via")]
    assert [(v.host, v.port, v.branch) for v in vias] == [
        ("10.0.0.1", 5060, "z9hG4bKa"),
        ("10.0.0.2", None, "z9hG4bKb"),
        ("2001:db8::1", 5070, "z9hG4bKc"),
    ]
    assert vias[2].params["received"] == "1.2.3.4"


def test_commas_inside_authenticate_are_not_split() -> None:
    raw = REGISTER.replace(
        b"Expires: 3600\r\n",
        b'Expires: 3600\r\nAuthorization: Digest username="a", realm="b", nonce="c"\r\n',
    )
    assert parse_message(raw).get_all("Authorization") == ['Digest username="a", realm="b", nonce="c"']


def test_bare_lf_line_ends_are_accepted() -> None:
    msg = parse_message(REGISTER.replace(b"\r\n", b"\n"))
    assert msg.cseq == (1, "REGISTER")


def test_serialise_round_trip_sets_content_length() -> None:
    msg = parse_message(keepalive(7))
    msg.body = b"<x/>"
    again = parse_message(msg.serialize())
    assert again.get("Content-Length") == "4"
    assert again.body == b"<x/>"
    assert again.call_id == "ka-7"


def test_response_copies_transaction_headers_and_adds_to_tag() -> None:
    request = parse_message(REGISTER)
    assert isinstance(request, SipRequest)
    response = make_response(request, 401, "Unauthorized", to_tag="abc")
    parsed = parse_message(response.serialize())
    assert isinstance(parsed, SipResponse)
    assert (parsed.status, parsed.reason) == (401, "Unauthorized")
    assert parse_name_addr(parsed.require("To")).tag == "abc"
    assert parsed.get_all("Via") == request.get_all("Via")
    assert parsed.cseq == (1, "REGISTER")


def test_uri_host_and_port() -> None:
    assert sip_uri_host_port("sip:34020000001320000264@192.168.2.64:5060") == ("192.168.2.64", 5060)
    assert sip_uri_host_port("sip:3402000000") == ("3402000000", None)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"HELLO world\r\n\r\n", "not a SIP request or status line"),
        (REGISTER.replace(b"\r\n\r\n", b"\r\n"), "no blank line"),
        (REGISTER.replace(b"Max-Forwards: 70", b"Max-Forwards 70"), "malformed header line"),
        (REGISTER.replace(b"Content-Length: 0", b"Content-Length: 10"), "Content-Length says 10"),
        (REGISTER.replace(b"Content-Length: 0", b"Content-Length: -1"), "non-negative integer"),
    ],
)
def test_malformed_input_gets_clear_error(raw: bytes, message: str) -> None:
    with pytest.raises(SipParseError, match=message):
        parse_message(raw)


def test_bad_cseq_is_named() -> None:
    msg = parse_message(REGISTER.replace(b"CSeq: 1 REGISTER", b"CSeq: one REGISTER"))
    with pytest.raises(SipParseError, match="CSeq must be"):
        _ = msg.cseq


def test_framer_handles_partial_and_concatenated_messages() -> None:
    stream = b"\r\n\r\n" + keepalive(1) + keepalive(2) + keepalive(3)
    framer = StreamFramer()
    got: list[str] = []
    # One byte at a time: the worst a TCP stack can do to us.
    for i in range(len(stream)):
        got += [m.call_id for m in framer.feed(stream[i : i + 1])]
    assert got == ["ka-1", "ka-2", "ka-3"]
    assert framer.pending == 0

    framer = StreamFramer()
    messages = framer.feed(stream)
    assert [m.body for m in messages] == [KEEPALIVE_BODY] * 3


def test_framer_keeps_incomplete_body_until_it_arrives() -> None:
    data = keepalive(9)
    framer = StreamFramer()
    assert framer.feed(data[:-10]) == []
    [message] = framer.feed(data[-10:])
    assert message.body == KEEPALIVE_BODY


def test_framer_refuses_message_without_content_length() -> None:
    data = REGISTER.replace(b"Content-Length: 0\r\n", b"")
    with pytest.raises(SipParseError, match="must carry Content-Length"):
        StreamFramer().feed(data)


def test_serialise_refuses_header_injection() -> None:
    response = SipResponse(status=400, reason="Bad Request")
    response.add("Subject", "x\r\nContact: <sip:evil@example.com>")
    with pytest.raises(ValueError, match="line break"):
        response.serialize()


@pytest.mark.parametrize("value", ["²", "١٠", "１０", "0x10"], ids=["superscript", "arabic", "fullwidth", "hex"])
def test_unicode_digits_in_content_length_are_a_parse_error_naming_the_request(value: str) -> None:
    data = REGISTER.replace(b"Content-Length: 0", f"Content-Length: {value}".encode())
    with pytest.raises(SipParseError, match="Content-Length") as caught:
        parse_message(data)
    # The head was readable: enough to answer 400 to it.
    partial = caught.value.partial
    assert isinstance(partial, SipRequest) and partial.method == "REGISTER"
    with pytest.raises(SipParseError, match="Content-Length"):
        StreamFramer().feed(data)


@pytest.mark.parametrize("value", ["² REGISTER", "١ REGISTER", "1"])
def test_unicode_digits_in_cseq_are_a_parse_error(value: str) -> None:
    message = parse_message(REGISTER.replace(b"CSeq: 1 REGISTER", f"CSeq: {value}".encode()))
    with pytest.raises(SipParseError, match="CSeq"):
        _ = message.cseq


def test_unicode_digit_port_in_via_is_a_parse_error() -> None:
    with pytest.raises(SipParseError, match="bad port"):
        parse_via("SIP/2.0/UDP 192.168.2.64:５０６０;branch=z9hG4bK1")


def test_framer_refuses_a_message_over_its_size_limit() -> None:
    framer = StreamFramer(max_message_bytes=1024)
    head = REGISTER.replace(b"Content-Length: 0", b"Content-Length: 2000")
    with pytest.raises(SipParseError, match="exceeds"):
        framer.feed(head)
    with pytest.raises(SipParseError, match="no end of headers"):
        StreamFramer(max_message_bytes=1024).feed(b"REGISTER sip:x SIP/2.0\r\nX: " + b"a" * 2000)
