"""An ONVIF camera (ipycam, a third-party simulator) as a counter's environment camera, from configuration."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from branch_agent.config import load_branch_config
from branch_agent.counter.sources import build_sources
from tests.branch_agent.sources.test_counter_stream_sources import _config, _until
from tests.peers.onvif_simulator import running_ipycam


@pytest.mark.parametrize("clock_shift", [None, pytest.param("+5h", marks=pytest.mark.slow)])
def test_onvif_camera_streams_and_reports_its_clock_offset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock_shift
):
    (tmp_path / "cam").mkdir()
    with running_ipycam(tmp_path / "cam", clock_shift=clock_shift) as camera:
        monkeypatch.setenv("C01_ENV_PASSWORD", camera.password)
        env = (
            f'{{ kind = "onvif", host = "127.0.0.1", port = {camera.onvif_port}, username = "{camera.username}", '
            f'password_env = "C01_ENV_PASSWORD", stream = "sub" }}'
        )
        cfg = load_branch_config(
            _config(tmp_path, env, '{ kind = "synthetic", width = 320, height = 240 }', '{ kind = "tone" }')
        )
        sources = build_sources(cfg, cfg.counters[0])
        sources.open()
        try:
            _until(lambda: sources.environment.latest_frame() is not None, timeout_s=60)
            time.sleep(1.0)
            frame = sources.environment.latest_frame()
            # The sub stream was picked, and its pictures are stamped on this host's clock.
            assert (frame.width, frame.height) == (camera.sub_width, camera.sub_height)
            assert 0 <= time.monotonic_ns() - frame.pts_ns < 1_000_000_000
            health = sources.environment.health()
            assert health.kind == "onvif" and health.connected
            expected = 5 * 3600 if clock_shift else 0
            assert health.clock_offset_s is not None and abs(health.clock_offset_s - expected) < 3
            assert camera.password not in repr(health)
            # Its identity from GetDeviceInformation, for the center's device view.
            assert (health.manufacturer, health.model) == ("IPyCam", "VirtualCam-Test") and health.firmware
        finally:
            sources.close()


def test_wrong_onvif_password_is_a_clear_error_in_the_camera_status(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "cam").mkdir()
    with running_ipycam(tmp_path / "cam") as camera:
        monkeypatch.setenv("C01_ENV_PASSWORD", "not-the-password")
        env = (
            f'{{ kind = "onvif", host = "127.0.0.1", port = {camera.onvif_port}, username = "{camera.username}", '
            f'password_env = "C01_ENV_PASSWORD" }}'
        )
        cfg = load_branch_config(
            _config(tmp_path, env, '{ kind = "synthetic", width = 320, height = 240 }', '{ kind = "tone" }')
        )
        sources = build_sources(cfg, cfg.counters[0])
        sources.open()
        try:
            _until(lambda: sources.environment.health().errors > 0, timeout_s=30)
            health = sources.environment.health()
            assert not health.connected
            assert f"refused the credentials for user '{camera.username}'" in health.detail
            assert "not-the-password" not in health.detail
        finally:
            sources.close()
