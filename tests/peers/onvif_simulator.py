"""Starts ipycam_onvif_camera.py (a real third-party ONVIF camera) as a subprocess for a test.

Every port is a free one on 127.0.0.1 chosen here; the process is killed when the block exits. With
``clock_shift`` ('+5h', '-3h', ...) the camera runs under Debian's faketime, so its clock, and the
clock it checks WS-Security digests against, is off by that much while the test host's is not.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

LAUNCHER = Path(__file__).with_name("ipycam_onvif_camera.py")
START_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class SimulatedCamera:
    host: str
    onvif_port: int
    discovery_port: int
    rtsp_port: int
    username: str
    password: str = field(repr=False)
    width: int
    height: int
    sub_width: int
    sub_height: int


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(process: subprocess.Popen[str], log_path: Path) -> None:
    assert process.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.5)
        if ready:
            line = process.stdout.readline()
            if line.strip() == "ready":
                return
            if not line and process.poll() is not None:
                break
    raise RuntimeError(f"ipycam did not become ready; its log:\n{log_path.read_text(errors='replace')[-4000:]}")


@contextmanager
def running_ipycam(
    workdir: Path,
    *,
    username: str = "admin",
    password: str = "s3cret:p@ss/word",
    clock_shift: str | None = None,
    width: int = 1920,
    height: int = 1080,
    sub_width: int = 640,
    sub_height: int = 360,
) -> Iterator[SimulatedCamera]:
    camera = SimulatedCamera(
        host="127.0.0.1",
        onvif_port=free_port(),
        discovery_port=free_port(socket.SOCK_DGRAM),
        rtsp_port=free_port(),
        username=username,
        password=password,
        width=width,
        height=height,
        sub_width=sub_width,
        sub_height=sub_height,
    )
    command = [
        sys.executable,
        str(LAUNCHER),
        "--onvif-port",
        str(camera.onvif_port),
        "--discovery-port",
        str(camera.discovery_port),
        "--rtsp-port",
        str(camera.rtsp_port),
        "--idle-port",
        str(free_port()),
        "--user",
        username,
        "--password",
        password,
        "--width",
        str(width),
        "--height",
        str(height),
        "--sub-width",
        str(sub_width),
        "--sub-height",
        str(sub_height),
    ]
    env = dict(os.environ)
    if clock_shift is not None:
        faketime = shutil.which("faketime")
        if faketime is None:
            pytest.skip(
                "the camera clock test needs faketime (Debian package 'faketime'; scripts/sysdeps.sh installs it)"
            )
        # The monotonic clock is shifted too (by a constant, harmless): with DONT_FAKE_MONOTONIC set,
        # libfaketime 0.9.10 makes Python's time.sleep fail with EINVAL.
        command = [faketime, "-f", clock_shift, *command]
    log_path = workdir / "ipycam.log"
    with open(log_path, "w") as log:
        # A session of its own: faketime runs the camera as its child, and the camera runs ffmpeg
        # encoders; stopping the group reaches all of them, not only the process Popen started.
        process = subprocess.Popen(
            command, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True
        )
    try:
        _wait_ready(process, log_path)
        yield camera
    finally:
        _stop_group(process)


def _stop_group(process: subprocess.Popen[str]) -> None:
    for sig, grace_s in ((signal.SIGTERM, 10.0), (signal.SIGKILL, None)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        if grace_s is not None:
            _wait_group_gone(process, grace_s)
    process.wait()
    if process.stdout is not None:
        process.stdout.close()


def _wait_group_gone(process: subprocess.Popen[str], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        process.poll()  # reaps the leader: a zombie would keep the group alive
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
