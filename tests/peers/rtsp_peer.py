"""Starts and kills GStreamer's RTSP server (gst_rtsp_server.py) as a camera for the tests."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

SYSTEM_PYTHON = "/usr/bin/python3"
SCRIPT = Path(__file__).with_name("gst_rtsp_server.py")
_CHECK = (
    "import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0');"
    "from gi.repository import Gst, GstRtspServer; Gst.init(None);"
    "missing = [e for e in ('x264enc', 'rtph264pay', 'alawenc', 'rtppcmapay', 'videotestsrc') if not Gst.ElementFactory.find(e)];"
    "print(' '.join(missing))"
)


def unavailable_reason() -> str | None:
    """Why the GStreamer RTSP server cannot run here, or None if it can."""
    if not Path(SYSTEM_PYTHON).exists():
        return f"{SYSTEM_PYTHON} is missing (the GStreamer RTSP server runs with the system Python)"
    try:
        out = subprocess.run([SYSTEM_PYTHON, "-c", _CHECK], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return "the GStreamer check did not answer within 30 s"
    if out.returncode != 0:
        return (
            "GStreamer's RTSP server is not installed (apt-get install python3-gi gir1.2-gst-rtsp-server-1.0 "
            f"gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly): {out.stderr.strip().splitlines()[-1:]}"
        )
    if out.stdout.strip():
        return f"GStreamer elements missing: {out.stdout.strip()} (gstreamer1.0-plugins-good, -ugly)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RtspPeer:
    """One RTSP camera at rtsp://127.0.0.1:<port>/cam; ``kill`` is kill -9, ``start`` comes back on the same port."""

    def __init__(self, *args: str, port: int | None = None, faketime: str | None = None) -> None:
        self.port = port or free_port()
        self.args = list(args)
        self.faketime = faketime
        self.proc: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/cam"

    def start(self, timeout_s: float = 30.0) -> None:
        cmd = [SYSTEM_PYTHON, str(SCRIPT), "--port", str(self.port), *self.args]
        if self.faketime:
            faketime = shutil.which("faketime")
            if faketime is None:
                raise RuntimeError("faketime is not installed (apt-get install faketime)")
            cmd = [faketime, "-f", self.faketime, *cmd]
        # Only the wall clock is shifted: GLib's timers run on the monotonic clock and must stay real.
        env = {**os.environ, "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
        self.proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout_s
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            err = self.proc.stderr.read() if self.proc.stderr else ""
            self.kill()
            raise RuntimeError(f"RTSP server did not start: {line!r} {err[-2000:]}")
        # The server listens once it printed ready; wait until the port answers anyway.
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"RTSP server on port {self.port} does not answer")

    def kill(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        # The whole group: under faketime the server is a child of the faketime process.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
