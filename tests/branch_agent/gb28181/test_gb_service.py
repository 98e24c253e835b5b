"""The shared platform runner and the GB camera source without a device: states, errors, clean stops."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from branch_agent.gb28181.devices import GbPlatformConfig
from branch_agent.gb28181.service import GbPlatformRunner, GbPlatformUnavailable, platform_report
from branch_agent.sources.base import VideoSource
from branch_agent.sources.gb_camera import GbCamera, GbCameraSettings

SERVER_ID = "34020000002000000001"
DOMAIN = "3402000000"
CAMERA = "34020000001320000264"


def _config(port: int = 0, transports: tuple[str, ...] = ("udp", "tcp")) -> GbPlatformConfig:
    return GbPlatformConfig(
        SERVER_ID, DOMAIN, host="127.0.0.1", port=port, transports=transports, default_password="pw"
    )


def _until(predicate, timeout_s: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture(autouse=True)
def no_threads_left():  # type: ignore[no-untyped-def]
    yield
    leftover = [t.name for t in threading.enumerate() if t.name.startswith(("gb-platform", "gb-camera-", "gb-media-"))]
    assert leftover == []


def test_udp_only_platform_does_not_listen_on_tcp() -> None:
    runner = GbPlatformRunner(_config(transports=("udp",)))
    platform = runner.ensure_started()
    try:
        assert runner.ensure_started() is platform  # one SIP server, however often asked
        with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", platform.port), timeout=1):
            pass
        report = platform_report(runner)
        assert report is not None and report.running and report.devices == []
    finally:
        runner.stop()
    assert runner.platform is None


def test_camera_waits_for_its_device_and_says_so() -> None:
    runner = GbPlatformRunner(_config())
    camera = GbCamera("C01-environment", runner, GbCameraSettings(CAMERA, CAMERA))
    video = camera.video("C01-environment")
    assert isinstance(video, VideoSource)
    video.open()
    try:
        _until(lambda: "waiting for the device to register" in video.health().detail)
        health = video.health()
        assert not health.connected and health.kind == "gb28181" and health.last_frame_age_s is None
        assert health.detail.startswith(f"GB/T 28181 {CAMERA}/{CAMERA}; device not registered")
        assert video.latest_frame() is None
    finally:
        video.close()
    assert runner.platform is None, "the last user closing stops the SIP server"


def test_sip_port_in_use_is_reported_and_retried() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        runner = GbPlatformRunner(_config(port=port, transports=("udp",)))
        with pytest.raises(GbPlatformUnavailable, match=f"SIP server on 127.0.0.1:{port} did not start"):
            runner.ensure_started()
        camera = GbCamera(
            "C01-environment", runner, GbCameraSettings(CAMERA, CAMERA, retry_initial_s=0.1, retry_max_s=0.2)
        )
        camera.acquire()
        try:
            _until(lambda: "did not start" in camera.health("env", audio=False).detail)
        finally:
            camera.release()
    report = platform_report(runner)
    assert report is not None and not report.running and "did not start" in report.error
