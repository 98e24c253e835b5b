"""End to end on 127.0.0.1: the device simulator sends PS over RTP, the receiver decodes it.

Covers the three GB/T 28181 transports (UDP, TCP passive: the device connects to us, TCP active:
we connect to the device), network trouble (loss and reordering), and a device going silent.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from branch_agent.gb28181.media_receiver import GbMediaReceiver, ReceiverSettings
from branch_agent.sources.base import AudioSource, VideoSource
from branch_agent.sources.shared_feed import FeedAudioSource, FeedVideoSource
from tests.peers.gb_device.device_simulator import (
    DeviceSimulator,
    EncodedFrame,
    Faults,
    encode_test_audio,
    encode_test_video,
    interleave,
)

SSRC = 110000001  # "0110000001": a live stream's y= value


@pytest.fixture(scope="module")
def media() -> list[EncodedFrame]:
    return interleave(encode_test_video(50), encode_test_audio(2.0))


@pytest.fixture(scope="module")
def short_gop() -> list[EncodedFrame]:
    return interleave(encode_test_video(50, gop=10), encode_test_audio(2.0))


@pytest.fixture(autouse=True)
def no_threads_left() -> Iterator[None]:
    yield
    leftover = [t.name for t in threading.enumerate() if t.name.startswith(("gb-media-", "gb-sim-"))]
    assert leftover == []


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


@contextmanager
def session(
    transport: str,
    frames: list[EncodedFrame],
    faults: Faults | None = None,
    speed: float = 2.0,
    loop: bool = False,
    stale_after_s: float = 2.0,
    receiver_ssrc: int = SSRC,
) -> Iterator[tuple[GbMediaReceiver, DeviceSimulator]]:
    """A receiver and a simulator wired for ``transport``, both stopped afterwards."""
    faults = faults or Faults()
    sim: DeviceSimulator | None = None
    rx: GbMediaReceiver | None = None
    try:
        if transport == "tcp-active":
            sim = DeviceSimulator(frames, SSRC, ("127.0.0.1", 0), "tcp-listen", faults, speed, loop)
            sim.start()
            settings = ReceiverSettings(
                "tcp-active",
                remote=("127.0.0.1", sim.listen_port),
                ssrc=receiver_ssrc,
                want_audio=True,
                stale_after_s=stale_after_s,
            )
            rx = GbMediaReceiver("cam", settings)
            rx.acquire()
        else:
            settings = ReceiverSettings(
                transport,
                bind_host="127.0.0.1",
                ssrc=receiver_ssrc,  # type: ignore[arg-type]
                want_audio=True,
                stale_after_s=stale_after_s,
            )
            rx = GbMediaReceiver("cam", settings)
            rx.acquire()
            sim_transport = "udp" if transport == "udp" else "tcp-connect"
            sim = DeviceSimulator(frames, SSRC, ("127.0.0.1", rx.port), sim_transport, faults, speed, loop)  # type: ignore[arg-type]
            sim.start()
        yield rx, sim
    finally:
        if sim is not None:
            sim.stop()
        if rx is not None:
            rx.release()


@pytest.mark.parametrize("transport", ["udp", "tcp-passive", "tcp-active"])
def test_every_frame_is_decoded_and_served_as_sources(media: list[EncodedFrame], transport: str) -> None:
    with session(transport, media) as (rx, sim):
        video, audio = FeedVideoSource("cam", rx), FeedAudioSource("cam-mic", rx)
        assert isinstance(video, VideoSource) and isinstance(audio, AudioSource)
        video.open()  # shared: the session's own reference keeps it open too
        assert wait_until(lambda: rx.stats().video_frames == 50)
        assert sim.done.wait(5) and sim.stats.error == ""
        frame = video.latest_frame()
        assert frame is not None and (frame.width, frame.height) == (320, 240)
        assert abs(frame.pts_ns - time.monotonic_ns()) < 2 * 10**9
        chunks = audio.read(1000)
        assert chunks and {c.sample_rate for c in chunks} == {48000}
        # 2 s of 8 kHz sound resampled to 48 kHz (the resampler may hold back a few samples).
        assert 1.9 * 48000 < sum(len(c.samples) for c in chunks) <= 2 * 48000
        health = video.health()
        assert health.connected and health.kind == "gb28181" and health.errors == 0
        assert "lost 0 of 100 packets" in health.detail or transport == "udp"
        stats = rx.stats()
        assert stats.reorder.lost == 0 and stats.decode_errors == 0 and stats.video_frames == 50
        video.close()
    assert not rx.health("cam", audio=False).connected


@pytest.mark.parametrize("transport", ["udp", "tcp-passive", "tcp-active"])
def test_loss_and_reordering_are_survived(media: list[EncodedFrame], transport: str) -> None:
    faults = Faults(drop=0.02, reorder=0.05, seed=11)
    with session(transport, media, faults, speed=3.0, loop=True) as (rx, sim):
        # Three laps of the 50 frames: every key frame after a loss brings the picture back.
        assert wait_until(lambda: sim.stats.frames >= 300, timeout=8)
        stats = rx.stats()
    assert sim.stats.packets_dropped > 0 and sim.stats.packets_swapped > 0
    assert stats.reorder.lost >= sim.stats.packets_dropped - 2  # the last gaps may still be open
    assert stats.reorder.reordered >= sim.stats.packets_swapped // 2
    assert stats.demux.dropped_units > 0  # damaged frames and those predicted from them
    assert stats.decode_errors == 0  # never fed the decoder a damaged frame
    assert 50 < stats.video_frames < 150


@pytest.mark.parametrize("transport", ["udp", "tcp-passive"])
def test_silent_device_goes_stale_and_recovers(short_gop: list[EncodedFrame], transport: str) -> None:
    faults = Faults(silence_at_s=1.0, silence_s=1.5)
    with session(transport, short_gop, faults, speed=1.0, loop=True, stale_after_s=0.5) as (rx, _sim):
        assert wait_until(lambda: rx.health("cam", audio=False).connected, timeout=2)
        assert wait_until(lambda: not rx.health("cam", audio=False).connected, timeout=3)
        stale = rx.health("cam", audio=False)
        assert "no media for" in stale.detail
        assert stale.last_frame_age_s is not None and stale.last_frame_age_s > 0.5
        frames_before = rx.stats().video_frames
        assert wait_until(lambda: rx.health("cam", audio=False).connected, timeout=3)
        assert wait_until(lambda: rx.stats().video_frames > frames_before + 5, timeout=2)
        fresh = rx.health("cam", audio=False)
        assert fresh.last_frame_age_s is not None and fresh.last_frame_age_s < 0.3
        assert rx.stats().decode_errors == 0


def test_packets_from_another_ssrc_are_ignored(media: list[EncodedFrame]) -> None:
    with session("udp", media[:20], receiver_ssrc=SSRC + 1) as (rx, sim):
        assert sim.done.wait(5)
        assert wait_until(lambda: rx.stats().reorder.foreign_ssrc == sim.stats.packets_sent)
        assert rx.stats().video_frames == 0
        assert "another SSRC" in rx.health("cam", audio=False).detail


def test_tcp_passive_takes_a_reconnecting_device(media: list[EncodedFrame]) -> None:
    with session("tcp-passive", media[:40]) as (rx, first):
        assert first.done.wait(5)
        assert wait_until(lambda: rx.stats().video_frames >= 15)
        second = DeviceSimulator(media, SSRC, ("127.0.0.1", rx.port), "tcp-connect", speed=2.0, first_sequence=40000)
        with second:
            assert wait_until(lambda: rx.stats().connections == 2)
            assert wait_until(lambda: rx.stats().video_frames >= 15 + 50)
        assert rx.health("cam", audio=False).reconnects == 1


def test_tcp_active_keeps_trying_until_the_device_listens(media: list[EncodedFrame]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    rx = GbMediaReceiver("cam", ReceiverSettings("tcp-active", remote=("127.0.0.1", port), ssrc=SSRC, retry_max_s=0.2))
    rx.acquire()
    try:
        assert wait_until(lambda: "cannot connect" in rx.health("cam", audio=False).detail, timeout=3)
        with DeviceSimulator(media, SSRC, ("127.0.0.1", port), "tcp-listen", speed=2.0):
            assert wait_until(lambda: rx.stats().video_frames == 50)
    finally:
        rx.release()


def test_udp_port_ignores_rtcp_and_noise_and_adopts_a_device_ignoring_y(media: list[EncodedFrame]) -> None:
    settings = ReceiverSettings("udp", bind_host="127.0.0.1", ssrc=SSRC + 5, adopt_ssrc_after=10)
    rx = GbMediaReceiver("cam", settings)
    rx.acquire()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            sender_report = struct.pack("!BBHIIIIII", 0x80, 200, 6, SSRC, 0, 0, 0, 0, 0)
            s.sendto(sender_report, ("127.0.0.1", rx.port))
            s.sendto(b"not rtp", ("127.0.0.1", rx.port))
        with DeviceSimulator(media, SSRC, ("127.0.0.1", rx.port), "udp", speed=2.0) as sim:
            assert sim.done.wait(5)
            # The key frame's packets went to the count before adoption: the next GOP decodes.
            assert wait_until(lambda: rx.stats().video_frames == 25)
        stats = rx.stats()
        assert (stats.rtcp_packets, stats.bad_packets, stats.reorder.foreign_ssrc) == (1, 1, 9)
    finally:
        rx.release()


def test_h265_with_aac_sound() -> None:
    frames = interleave(encode_test_video(25, codec="hevc"), encode_test_audio(1.0, codec="aac"))
    rx = GbMediaReceiver("cam", ReceiverSettings("tcp-passive", bind_host="127.0.0.1", ssrc=SSRC, want_audio=True))
    rx.acquire()
    try:
        sim = DeviceSimulator(
            frames, SSRC, ("127.0.0.1", rx.port), "tcp-connect", speed=2.0, video_codec="hevc", audio_codec="aac"
        )
        with sim:
            assert wait_until(lambda: rx.stats().video_frames == 25)
            assert sim.done.wait(5)
        frame = rx.latest_frame()
        assert frame is not None and (frame.width, frame.height) == (320, 240)
        assert wait_until(lambda: rx.stats().audio_chunks > 0)
        samples = sum(len(c.samples) for c in rx.read_audio(1000))
        assert 0.8 * 48000 < samples < 1.3 * 48000
        assert rx.stats().decode_errors == 0
    finally:
        rx.release()


def test_udp_rtp_from_another_address_is_ignored_even_with_the_right_ssrc(media: list[EncodedFrame]) -> None:
    settings = ReceiverSettings("udp", bind_host="127.0.0.1", ssrc=SSRC, allowed_sources=("127.0.0.1",))
    rx = GbMediaReceiver("cam", settings)
    rx.acquire()
    try:
        # The attacker knows the port and the SSRC, but sends from another host of the LAN.
        with DeviceSimulator(media[:20], SSRC, ("127.0.0.1", rx.port), "udp", speed=4.0, bind_host="127.0.0.2") as bad:
            assert bad.done.wait(5) and bad.stats.packets_sent > 0
            assert wait_until(lambda: rx.stats().foreign_source == bad.stats.packets_sent)
        stats = rx.stats()
        assert (stats.packets, stats.video_frames, stats.reorder.received) == (0, 0, 0)
        assert "from another address ignored" in rx.health("cam", audio=False).detail
        with DeviceSimulator(media, SSRC, ("127.0.0.1", rx.port), "udp", speed=2.0, bind_host="127.0.0.1") as good:
            assert good.done.wait(5)
            assert wait_until(lambda: rx.stats().video_frames == 50)
    finally:
        rx.release()


def test_allowed_sources_can_be_widened_once_the_answer_names_them(media: list[EncodedFrame]) -> None:
    settings = ReceiverSettings("udp", bind_host="127.0.0.1", ssrc=SSRC, allowed_sources=("127.0.0.9",))
    rx = GbMediaReceiver("cam", settings)
    rx.acquire()
    try:
        rx.allow_sources(("127.0.0.9", "127.0.0.1"))
        with DeviceSimulator(media, SSRC, ("127.0.0.1", rx.port), "udp", speed=2.0) as good:
            assert good.done.wait(5)
            assert wait_until(lambda: rx.stats().video_frames == 50)
        assert rx.stats().foreign_source == 0
    finally:
        rx.release()


def test_tcp_passive_refuses_a_connection_from_another_address(media: list[EncodedFrame]) -> None:
    settings = ReceiverSettings("tcp-passive", bind_host="127.0.0.1", ssrc=SSRC, allowed_sources=("127.0.0.1",))
    rx = GbMediaReceiver("cam", settings)
    rx.acquire()
    try:
        with DeviceSimulator(media, SSRC, ("127.0.0.1", rx.port), "tcp-connect", speed=2.0, loop=True) as good:
            assert wait_until(lambda: rx.stats().video_frames >= 10)
            # Connecting from elsewhere neither takes over nor drops the device's connection.
            with socket.create_connection(("127.0.0.1", rx.port), source_address=("127.0.0.2", 0)) as bad:
                bad.settimeout(5)
                assert wait_until(lambda: rx.stats().foreign_source == 1)
                with contextlib.suppress(ConnectionResetError):
                    assert bad.recv(1) == b""  # closed by the receiver
            frames = rx.stats().video_frames
            assert wait_until(lambda: rx.stats().video_frames > frames + 10)
            assert rx.stats().connections == 1 and good.stats.error == ""
    finally:
        rx.release()
