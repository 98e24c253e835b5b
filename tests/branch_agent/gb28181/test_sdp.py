"""SDP as GB/T 28181 cameras write it: the offer we build and the answers we must accept."""

from __future__ import annotations

import pytest

from branch_agent.gb28181.sdp import (
    MediaTransport,
    SdpError,
    build_play_offer,
    make_ssrc,
    parse_sdp,
)

# A Hikvision-style answer: bare LF, spaces around '=', upper-case types, no s=, y= and f=.
SLOPPY_ANSWER = (
    "v=0\n"
    "o=34020000001320000001 2034 2034 IN IP4 192.168.1.64\n"
    "C = IN IP4 192.168.1.64\n"
    "t=0 0\n"
    "M=video 15060 rtp/avp 96\n"
    "a=SENDONLY\n"
    "a=rtpmap:96 PS/90000\n"
    "  y=0200001234  \n"
    "f=v/2/5/25/1/4096a///\n"
)


def test_offer_for_udp_is_what_gb28181_asks() -> None:
    offer = build_play_offer(platform_id="34020000002000000001", host="10.1.2.3", port=30000, ssrc="0200000001")
    assert offer.decode().split("\r\n") == [
        "v=0",
        "o=34020000002000000001 0 0 IN IP4 10.1.2.3",
        "s=Play",
        "c=IN IP4 10.1.2.3",
        "t=0 0",
        "m=video 30000 RTP/AVP 96 98 97",
        "a=recvonly",
        "a=rtpmap:96 PS/90000",
        "a=rtpmap:98 H264/90000",
        "a=rtpmap:97 MPEG4/90000",
        "y=0200000001",
        "",
    ]


@pytest.mark.parametrize(
    ("transport", "setup"),
    [(MediaTransport.TCP_PASSIVE, "passive"), (MediaTransport.TCP_ACTIVE, "active")],
)
def test_offer_for_tcp_names_our_role(transport: MediaTransport, setup: str) -> None:
    offer = build_play_offer(
        platform_id="34020000002000000001",
        host="10.1.2.3",
        port=30000,
        ssrc="0200000001",
        transport=transport,
        format_params="v/2/5/25/1/4096a///",
    )
    parsed = parse_sdp(offer)
    video = parsed.video
    assert video.protocol == "TCP/RTP/AVP" and video.is_tcp
    assert video.setup == setup
    assert video.attribute("connection") == "new"
    assert video.has_flag("recvonly")
    assert parsed.ssrc == "0200000001"
    assert parsed.format_params == "v/2/5/25/1/4096a///"
    assert parsed.session_name == "Play"


def test_sloppy_camera_answer_is_accepted() -> None:
    parsed = parse_sdp(SLOPPY_ANSWER.encode())
    video = parsed.video
    assert (video.media, video.port, video.protocol) == ("video", 15060, "RTP/AVP")
    assert parsed.media_host() == "192.168.1.64"
    assert parsed.ssrc == "0200001234"
    assert parsed.format_params == "v/2/5/25/1/4096a///"
    assert parsed.session_name == ""
    assert video.rtpmap == {96: "PS/90000"}
    assert video.has_flag("sendonly")


def test_media_level_connection_wins_and_tcp_setup_is_read() -> None:
    body = (
        "v=0\r\no=cam 0 0 IN IP4 10.0.0.1\r\ns=Play\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"
        "m=video 6000 TCP/RTP/AVP 96\r\nc=IN IP4 10.0.0.9\r\na=setup:passive\r\na=connection:new\r\n"
        "y=0200000007\r\n"
    )
    parsed = parse_sdp(body)
    assert parsed.media_host() == "10.0.0.9"
    assert parsed.video.setup == "passive"


def test_audio_before_video_still_finds_video() -> None:
    body = "v=0\nc=IN IP4 10.0.0.1\nm=audio 7000 RTP/AVP 8\nm=video 6000 RTP/AVP 96\n"
    assert parse_sdp(body).video.port == 6000


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("v=0\nc=IN IP4 10.0.0.1\ny=0200000001\n", "no m= line"),
        ("v=0\nm=video 6000 RTP/AVP 96\n", "no c= line"),
        ("v=0\nc=IN IP4 10.0.0.1\nm=video\n", "m= line needs"),
        ("v=0\nc=IN IP4 10.0.0.1\nm=video abc RTP/AVP 96\n", "port must be"),
        ("v=0\nc=10.0.0.1\nm=video 6000 RTP/AVP 96\n", "c= line must be"),
    ],
)
def test_unusable_answers_get_clear_errors(body: str, message: str) -> None:
    with pytest.raises(SdpError, match=message):
        parse_sdp(body)


def test_ssrc_follows_the_domain_and_sequence() -> None:
    assert make_ssrc("3402000000", 17) == "0200000017"
    assert make_ssrc("4401061234", 9999, playback=True) == "1106129999"  # digits 4-8: 10612
    with pytest.raises(ValueError):
        make_ssrc("34020", 1)
    with pytest.raises(ValueError):
        make_ssrc("3402000000", 10000)


def test_transport_names_of_both_spellings() -> None:
    assert MediaTransport("tcp-active") is MediaTransport.TCP_ACTIVE
    assert MediaTransport("TCP_PASSIVE") is MediaTransport.TCP_PASSIVE
    assert MediaTransport.TCP_PASSIVE.receiver_name == "tcp-passive"
    with pytest.raises(ValueError):
        MediaTransport("sctp")


@pytest.mark.parametrize(
    "port", ["²", "¹²³⁴", "١٢٣٤", "６０００"], ids=["superscript", "superscripts", "arabic", "fullwidth"]
)
def test_unicode_digits_in_a_port_are_a_clear_error(port: str) -> None:
    with pytest.raises(SdpError, match="port must be"):
        parse_sdp(f"v=0\nc=IN IP4 10.0.0.1\nm=video {port} RTP/AVP 96\n")


def test_unicode_digits_elsewhere_do_not_break_the_answer() -> None:
    answer = parse_sdp("v=0\nc=IN IP4 10.0.0.1\nm=video 6000 RTP/AVP 96\na=rtpmap:⁹⁶ PS/90000\ny=²²²²²²²²²²\n")
    assert answer.video.rtpmap == {}
    assert answer.ssrc == "²²²²²²²²²²"
