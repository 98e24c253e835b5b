"""A counter's cameras and microphone built from configuration, against real streams."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from branch_agent.config import load_branch_config
from branch_agent.counter.sources import build_sources
from tests.peers.rtsp_peer import RtspPeer

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def desk_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two seconds of a 640x480 test picture at 25 fps, as a desk camera recorded to a file."""
    path = tmp_path_factory.mktemp("desk") / "desk.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x480:rate=25:duration=2",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            str(path),
        ],
        check=True,
    )
    return path


def _config(tmp_path: Path, environment: str, desk: str, microphone: str) -> Path:
    text = (REPO / "configs" / "branch.example.toml").read_text(encoding="utf-8")
    lines = []
    for line in text.splitlines():
        if line.startswith("environment = "):
            line = f"environment = {environment}"
        elif line.startswith("desk = "):
            line = f"desk = {desk}"
        elif line.startswith("microphone = "):
            line = f"microphone = {microphone}"
        elif line.startswith("data_dir = "):
            line = f'data_dir = "{tmp_path / "branch"}"'
        lines.append(line)
    path = tmp_path / "branch.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _until(predicate, timeout_s: float = 20.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_rtsp_environment_with_its_sound_and_a_looping_file_desk(rtsp_camera, desk_clip, tmp_path):
    path = _config(
        tmp_path,
        f'{{ kind = "rtsp", url = "{rtsp_camera.url}", transport = "udp" }}',
        f'{{ kind = "file", path = "{desk_clip}" }}',
        '{ kind = "camera", camera = "environment" }',
    )
    cfg = load_branch_config(path)
    sources = build_sources(cfg, cfg.counters[0])
    # The camera's picture and sound share one RTSP session.
    assert sources.environment.feed is sources.microphone.feed  # type: ignore[attr-defined]
    sources.open()
    try:
        _until(lambda: all(h.connected and h.last_frame_age_s is not None for h in sources.health()))
        # The two-second desk file plays on past its end, at its own pace.
        time.sleep(3.0)
        env, desk, mic = sources.health()
        assert (env.kind, desk.kind, mic.kind) == ("rtsp", "file", "rtsp")
        assert desk.connected and desk.last_frame_age_s < 0.5 and 20 <= desk.fps <= 30
        assert env.connected and 20 <= env.fps <= 30
        frame = sources.desk.latest_frame()
        assert (frame.width, frame.height) == (640, 480)
        assert sources.microphone.read(1000)
    finally:
        sources.close()
    assert not any(h.connected for h in sources.health())


@pytest.mark.slow
def test_a_camera_whose_clock_is_hours_off_is_still_stamped_right(gstreamer_rtsp, tmp_path):
    peer = RtspPeer(faketime="+5h")
    peer.start()
    try:
        path = _config(
            tmp_path,
            f'{{ kind = "rtsp", url = "{peer.url}" }}',
            '{ kind = "synthetic", width = 320, height = 240 }',
            '{ kind = "camera" }',
        )
        cfg = load_branch_config(path)
        sources = build_sources(cfg, cfg.counters[0])
        sources.open()
        try:
            _until(lambda: sources.environment.latest_frame() is not None)
            time.sleep(6.0)  # past the first RTCP sender reports, which carry the camera's wrong time
            frame = sources.environment.latest_frame()
            assert 0 <= time.monotonic_ns() - frame.pts_ns < 500_000_000
            chunks = sources.microphone.read(10_000)
            assert chunks and 0 <= time.monotonic_ns() - chunks[-1].pts_ns < 1_000_000_000
        finally:
            sources.close()
    finally:
        peer.kill()


def test_probe_command_prints_codec_resolution_fps_and_audio(rtsp_camera):
    out = subprocess.run(
        [sys.executable, "-m", "branch_agent", "cameras", "probe", rtsp_camera.url, "--seconds", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert out.returncode == 0, out.stderr
    assert "video: h264 1280x720 25 fps" in out.stdout
    assert "audio: pcm_alaw 8000 Hz, 1 channel(s)" in out.stdout


def test_probe_command_says_why_a_stream_cannot_be_opened(gstreamer_rtsp):
    port = RtspPeer().port  # a free port nobody listens on
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "branch_agent",
            "cameras",
            "probe",
            f"rtsp://viewer:pw123@127.0.0.1:{port}/cam",
            "--timeout",
            "3",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert out.returncode == 1
    assert "cannot open rtsp://viewer:***@127.0.0.1" in out.stderr and "Connection refused" in out.stderr
    assert "pw123" not in out.stderr


def test_probe_command_takes_the_password_from_the_environment(gstreamer_rtsp):
    peer = RtspPeer("--user", "viewer", "--password", "s3cret pw")
    peer.start()
    try:
        command = [
            sys.executable,
            "-m",
            "branch_agent",
            "cameras",
            "probe",
            peer.url,
            "--seconds",
            "1",
            "--user",
            "viewer",
        ]
        refused = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=REPO)
        assert refused.returncode == 1 and "401 Unauthorized" in refused.stderr, refused.stderr

        unset = subprocess.run(
            command + ["--password-env", "PROBE_TEST_PW"],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=REPO,
            env={k: v for k, v in os.environ.items() if k != "PROBE_TEST_PW"},
        )
        assert unset.returncode == 2 and "PROBE_TEST_PW is not set" in unset.stderr

        ok = subprocess.run(
            command + ["--password-env", "PROBE_TEST_PW"],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=REPO,
            env={**os.environ, "PROBE_TEST_PW": "s3cret pw"},
        )
        assert ok.returncode == 0, ok.stderr
        assert "video: h264 1280x720" in ok.stdout
        assert "s3cret" not in ok.stdout + ok.stderr
    finally:
        peer.kill()
