"""The ONVIF client against a real ONVIF camera: ipycam (PyPI), run as a subprocess on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import io
import logging
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

import av
import pytest
from PIL import Image

from branch_agent.sources.onvif_camera import OnvifDevice, query_device
from branch_agent.sources.onvif_endpoint import (
    OnvifAuthError,
    OnvifEndpoint,
    OnvifError,
    OnvifNoProfile,
    OnvifUnreachable,
)
from branch_agent.sources.onvif_profiles import pick_profile
from branch_agent.sources.onvif_snapshot import fetch_snapshot
from branch_agent.sources.onvif_stream import on_configured_host
from branch_agent.sources.stream_urls import redact_url, stream_url_with_credentials
from tests.peers.onvif_simulator import SimulatedCamera, free_port, running_ipycam

# Where the fallback from one way of authenticating to the next is logged.
MODULE_LOGGER = "branch_agent.sources.onvif_connection"


@pytest.fixture(scope="module")
def camera(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatedCamera]:
    with running_ipycam(tmp_path_factory.mktemp("ipycam")) as running:
        yield running


@pytest.fixture(scope="module")
def device(camera: SimulatedCamera) -> OnvifDevice:
    return query_device(endpoint_of(camera))


def endpoint_of(camera: SimulatedCamera, password: str | None = None, **changes: object) -> OnvifEndpoint:
    endpoint = OnvifEndpoint(
        camera.host, camera.onvif_port, camera.username, camera.password if password is None else password
    )
    return dataclasses.replace(endpoint, **changes)  # type: ignore[arg-type]


def test_device_identity_clock_and_profiles_are_read(camera: SimulatedCamera, device: OnvifDevice) -> None:
    assert (device.manufacturer, device.model, device.serial_number) == ("IPyCam", "VirtualCam-Test", "SIM-0001")
    assert device.firmware_version and device.hardware_id
    # Same clock on both sides: only the camera's whole-second resolution separates them.
    assert abs(device.clock_offset_s) < 2
    assert abs(device.camera_utc - datetime.now(UTC)) < timedelta(seconds=30)
    sizes = {(p.width, p.height) for p in device.profiles}
    assert sizes == {(camera.width, camera.height), (camera.sub_width, camera.sub_height)}
    for profile in device.profiles:
        assert profile.encoding == "H264" and profile.fps == 5.0
        assert profile.stream_uri.startswith(f"rtsp://127.0.0.1:{camera.rtsp_port}/")


def test_main_and_sub_streams_are_picked_by_resolution(camera: SimulatedCamera, device: OnvifDevice) -> None:
    main = pick_profile(device.profiles, "main")
    sub = pick_profile(device.profiles, "sub")
    assert (main.width, main.height, main.stream_uri.rsplit("/", 1)[1]) == (1920, 1080, "video_main")
    assert (sub.width, sub.height, sub.stream_uri.rsplit("/", 1)[1]) == (640, 360, "video_sub")
    assert pick_profile(device.profiles, (640, 360)) == sub  # exact size
    assert pick_profile(device.profiles, (1280, 720)) == main  # smallest that is at least as big


def test_no_matching_profile_names_the_device_and_lists_what_it_has(device: OnvifDevice) -> None:
    with pytest.raises(OnvifNoProfile) as too_big:
        pick_profile(device.profiles, (3840, 2160), device="127.0.0.1:8080")
    message = str(too_big.value)
    assert "ONVIF device 127.0.0.1:8080 has no H.264/H.265 profile of at least 3840x2160" in message
    assert (
        "MainStream (Profile_Main) H264 1920x1080@5" in message and "SubStream (Profile_Sub) H264 640x360@5" in message
    )

    # A camera that only offers MJPEG cannot be recorded: neither main nor sub qualifies.
    mjpeg_only = [dataclasses.replace(p, encoding="JPEG") for p in device.profiles]
    with pytest.raises(OnvifNoProfile, match=r"no H\.264/H\.265 main stream; it has: .*JPEG 1920x1080"):
        pick_profile(mjpeg_only, "main")
    with pytest.raises(ValueError):
        pick_profile(device.profiles, (0, 1080))


def test_snapshot_uri_serves_a_jpeg_of_the_main_picture(camera: SimulatedCamera, device: OnvifDevice) -> None:
    main = pick_profile(device.profiles, "main")
    assert main.snapshot_uri == f"http://127.0.0.1:{camera.onvif_port}/snapshot.jpg"
    # The simulator offers only HTTP Basic: by default the password is not sent over plain HTTP.
    with pytest.raises(OnvifAuthError, match="HTTP Basic over plain HTTP") as clear_text:
        fetch_snapshot(endpoint_of(camera), main.snapshot_uri)
    assert camera.password not in str(clear_text.value)
    # Allowed for this camera by its operator: the picture comes.
    picture = Image.open(io.BytesIO(fetch_snapshot(endpoint_of(camera), main.snapshot_uri, basic_over_http=True)))
    assert (picture.format, picture.size) == ("JPEG", (camera.width, camera.height))

    with pytest.raises(OnvifAuthError, match="refused the credentials for user 'admin'") as refused:
        fetch_snapshot(endpoint_of(camera, password="not-it"), main.snapshot_uri, basic_over_http=True)
    assert "not-it" not in str(refused.value)


def test_snapshot_larger_than_any_picture_is_refused_unread() -> None:
    """Whatever answers at a camera's address cannot make the agent read without end."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Endless(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.end_headers()
            try:
                self.wfile.write(b"\xff\xd8")
                for _ in range(10_000):
                    self.wfile.write(b"\0" * 65536)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Endless)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        endpoint = OnvifEndpoint("127.0.0.1", server.server_port, timeout_s=10.0)
        with pytest.raises(OnvifError, match="goes on past"):
            fetch_snapshot(endpoint, f"http://127.0.0.1:{server.server_port}/snapshot.jpg")
    finally:
        server.shutdown()


def test_stream_uri_with_credentials_plays(camera: SimulatedCamera, device: OnvifDevice) -> None:
    sub = pick_profile(device.profiles, "sub")
    url = stream_url_with_credentials(sub.stream_uri, camera.username, camera.password)
    with av.open(url, options={"rtsp_transport": "tcp"}, timeout=30) as stream:
        picture = next(stream.decode(video=0))
    assert (picture.width, picture.height) == (camera.sub_width, camera.sub_height)


def test_wrong_password_is_refused_clearly_without_revealing_it(
    camera: SimulatedCamera, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "Wrong#Pass:word"
    with pytest.raises(OnvifAuthError) as refused:
        query_device(endpoint_of(camera, password=wrong))
    assert str(refused.value) == f"ONVIF device 127.0.0.1:{camera.onvif_port} refused the credentials for user 'admin'"
    assert wrong not in str(refused.value) and wrong not in repr(endpoint_of(camera, password=wrong))
    assert all(wrong not in record.getMessage() for record in caplog.records)
    # The fallback from digest to text was tried, and said so.
    assert any("asking again with PasswordText" in r.getMessage() for r in caplog.records if r.name == MODULE_LOGGER)


def test_missing_credentials_are_reported(camera: SimulatedCamera) -> None:
    with pytest.raises(OnvifAuthError, match=f"127.0.0.1:{camera.onvif_port} requires credentials and none"):
        query_device(OnvifEndpoint(camera.host, camera.onvif_port))


def test_camera_without_authentication_is_read_anonymously(tmp_path_factory: pytest.TempPathFactory) -> None:
    with running_ipycam(tmp_path_factory.mktemp("ipycam-open"), username="", password="") as camera:
        device = query_device(OnvifEndpoint(camera.host, camera.onvif_port))
    assert device.manufacturer == "IPyCam"
    assert [p.stream_uri.rsplit("/", 1)[1] for p in device.profiles] == ["video_main", "video_sub"]


def test_closed_port_is_unreachable() -> None:
    port = free_port()
    started = time.monotonic()
    with pytest.raises(OnvifUnreachable, match=f"cannot reach ONVIF device 127.0.0.1:{port}"):
        query_device(OnvifEndpoint("127.0.0.1", port, "admin", "x", timeout_s=5))
    assert time.monotonic() - started < 30  # returns, rather than waiting on the library's 90 s


def test_silent_device_is_unreachable_after_the_timeout() -> None:
    # A port that completes the TCP handshake (kernel backlog) but whose owner never reads: a hung camera.
    with socket.create_server(("127.0.0.1", 0)) as hung:
        port = hung.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(OnvifUnreachable, match=f"127.0.0.1:{port} did not answer GetSystemDateAndTime within 1 s"):
            query_device(OnvifEndpoint("127.0.0.1", port, timeout_s=1))
        assert time.monotonic() - started < 30


class _NotOnvif(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.send_response(404)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(b"<html><body>Not Found</body></html>")

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_web_server_that_is_not_onvif_is_reported_as_such() -> None:
    with ThreadingHTTPServer(("127.0.0.1", 0), _NotOnvif) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        port = server.server_address[1]
        try:
            with pytest.raises(
                OnvifUnreachable, match=f"answered GetSystemDateAndTime .*: is 127.0.0.1:{port} an ONVIF device"
            ):
                query_device(OnvifEndpoint("127.0.0.1", port, "admin", "x"))
        finally:
            server.shutdown()


def test_camera_clock_hours_off_is_measured_and_authentication_still_works(
    tmp_path_factory: pytest.TempPathFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=MODULE_LOGGER)
    with running_ipycam(tmp_path_factory.mktemp("ipycam-clock"), clock_shift="+5h") as camera:
        device = query_device(endpoint_of(camera))
    assert device.clock_offset_s == pytest.approx(5 * 3600, abs=2)
    assert abs(device.camera_utc - (datetime.now(UTC) + timedelta(hours=5))) < timedelta(seconds=30)
    assert {(p.width, p.height) for p in device.profiles} == {(1920, 1080), (640, 360)}
    messages = [r.getMessage() for r in caplog.records if r.name == MODULE_LOGGER]
    # ipycam refuses digests more than 5 min from its clock: one stamped with host time is refused
    # (before the offset is known), the ones stamped with the camera's clock are accepted.
    assert any("(PasswordDigest, GetSystemDateAndTime)" in m for m in messages)
    assert not any("GetDeviceInformation" in m for m in messages)


def test_endpoint_is_validated() -> None:
    with pytest.raises(ValueError, match="host"):
        OnvifEndpoint(" ")
    with pytest.raises(ValueError, match="port"):
        OnvifEndpoint("cam", 0)
    with pytest.raises(ValueError, match="timeout"):
        OnvifEndpoint("cam", 80, timeout_s=0)
    assert OnvifEndpoint("fe80::1", 8000).address == "[fe80::1]:8000"


def test_stream_url_carries_percent_encoded_credentials() -> None:
    password = "p@ss:w/rd#1 %"
    url = stream_url_with_credentials("rtsp://old:secret@10.1.2.3:554/Streaming/101?tr=1", "ad min", password)
    assert url == "rtsp://ad%20min:p%40ss%3Aw%2Frd%231%20%25@10.1.2.3:554/Streaming/101?tr=1"
    parts = urlsplit(url)
    assert (unquote(parts.username or ""), unquote(parts.password or "")) == ("ad min", password)
    assert stream_url_with_credentials("rtsp://u:p@[fe80::1]:554/s", "", "") == "rtsp://[fe80::1]:554/s"
    with pytest.raises(ValueError, match="not an RTSP URL"):
        stream_url_with_credentials("http://10.1.2.3/snap.jpg", "u", "p")


def test_redacted_url_hides_every_password() -> None:
    assert redact_url("rtsp://admin:p%40ss@10.1.2.3:554/live") == "rtsp://admin:***@10.1.2.3:554/live"
    assert redact_url("rtsp://10.1.2.3/live?user=admin&password=abc&ch=1") == (
        "rtsp://10.1.2.3/live?user=admin&password=***&ch=1"
    )
    assert redact_url("rtsp://admin@10.1.2.3/live") == "rtsp://admin@10.1.2.3/live"
    assert redact_url("rtsp://10.1.2.3/live") == "rtsp://10.1.2.3/live"


def test_every_failure_is_an_onvif_error() -> None:
    for error in (OnvifAuthError, OnvifUnreachable, OnvifNoProfile):
        assert issubclass(error, OnvifError)


@pytest.mark.parametrize(
    ("announced", "configured", "expected"),
    [
        ("rtsp://10.9.8.7:554/main", "192.168.1.20", "rtsp://192.168.1.20:554/main"),
        ("rtsp://user:secret@10.9.8.7/main?x=1", "cam-03.branch.local", "rtsp://cam-03.branch.local/main?x=1"),
        ("rtsp://192.168.1.20:8554/sub", "192.168.1.20", "rtsp://192.168.1.20:8554/sub"),
        ("rtsp://10.9.8.7:554/main", "fe80::20", "rtsp://[fe80::20]:554/main"),
    ],
)
def test_stream_address_is_the_configured_camera_host(announced: str, configured: str, expected: str) -> None:
    # The credentials are added to this URL afterwards: they must only ever go to the configured host.
    assert on_configured_host(announced, configured) == expected
