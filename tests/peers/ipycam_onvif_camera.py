"""An ONVIF IP camera played by ipycam (PyPI), confined to the loopback interface.

Run with the project's Python: ``python ipycam_onvif_camera.py --onvif-port N --discovery-port M
--rtsp-port R --idle-port I --user U --password P``. ipycam answers ONVIF device and media SOAP
(WS-UsernameToken auth, digest and text, refusing digests whose Created time is more than 5 min off
its own clock), serves ``/snapshot.jpg`` (HTTP Basic), answers WS-Discovery probes and serves RTSP
through its native server, which runs the system ``ffmpeg`` as encoder. It prints ``ready`` once
every port listens, and stops on SIGTERM.

ipycam's ``IPCamera.start`` binds its HTTP server, its RTSP server and its WS-Discovery socket to
every interface (discovery on the fixed port 3702, joined to the multicast group); a test must not
listen beyond 127.0.0.1, nor collide with a second copy of itself, so the three listener classes are
replaced here, before ``start``, by subclasses that bind to 127.0.0.1 and the ports given. Everything
that answers requests is ipycam's own code.
"""

from __future__ import annotations

import argparse
import functools
import signal
import socket
import socketserver
import sys
import threading

import ipycam.camera
import numpy as np
from ipycam import CameraConfig, IPCamera, WSDiscoveryServer
from ipycam.rtsp import NativeRTSPServer

LOOPBACK = "127.0.0.1"


class LoopbackHTTPServer(ipycam.camera.ReusableThreadingTCPServer):
    def __init__(self, server_address: tuple[str, int], handler: type[socketserver.BaseRequestHandler]) -> None:
        super().__init__((LOOPBACK, server_address[1]), handler)


def loopback_discovery_server(port: int) -> type[WSDiscoveryServer]:
    class LoopbackDiscoveryServer(WSDiscoveryServer):
        # Same run loop and ProbeMatch as ipycam's; only the socket differs: unicast on loopback,
        # no multicast membership, so Hello/Bye announcements have nowhere to go (sendto to the
        # multicast group from a loopback-bound socket fails, and ipycam logs and carries on).
        def __init__(self, onvif_service: object) -> None:
            threading.Thread.__init__(self, daemon=True)
            self.onvif = onvif_service
            self.running = True
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
            self.sock.bind((LOOPBACK, port))
            self.sock.settimeout(1.0)

    return LoopbackDiscoveryServer


def synthetic_picture(width: int, height: int, frame_number: int) -> np.ndarray:
    picture = np.zeros((height, width, 3), dtype=np.uint8)
    picture[:, :, 0] = np.linspace(0, 255, width, dtype=np.uint8)[None, :]
    picture[:, :, 1] = np.linspace(0, 255, height, dtype=np.uint8)[:, None]
    bar = (frame_number * 16) % width
    picture[:, bar : bar + 32, 2] = 255
    return picture


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--onvif-port", type=int, required=True)
    parser.add_argument("--discovery-port", type=int, required=True)
    parser.add_argument("--rtsp-port", type=int, required=True)
    parser.add_argument(
        "--idle-port",
        type=int,
        required=True,
        help="a closed port: ipycam looks for go2rtc there, and must not find it",
    )
    parser.add_argument("--user", default="")
    parser.add_argument("--password", default="")
    parser.add_argument("--name", default="BranchTestCamera")
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--sub-width", type=int, default=640)
    parser.add_argument("--sub-height", type=int, default=360)
    parser.add_argument("--fps", type=int, default=5)
    args = parser.parse_args()

    config = CameraConfig(
        name=args.name,
        manufacturer="IPyCam",
        model="VirtualCam-Test",
        serial_number="SIM-0001",
        local_ip=LOOPBACK,
        onvif_port=args.onvif_port,
        rtsp_port=args.rtsp_port,
        rtmp_port=args.idle_port,
        web_port=args.idle_port,
        go2rtc_api_port=args.idle_port,
        username=args.user,
        password=args.password,
        main_width=args.width,
        main_height=args.height,
        main_fps=args.fps,
        main_bitrate="1M",
        sub_width=args.sub_width,
        sub_height=args.sub_height,
        sub_fps=args.fps,
        sub_bitrate="256K",
        hw_accel="cpu",
    )
    ipycam.camera.ReusableThreadingTCPServer = LoopbackHTTPServer  # type: ignore[misc]
    ipycam.camera.WSDiscoveryServer = loopback_discovery_server(args.discovery_port)  # type: ignore[misc]
    ipycam.camera.NativeRTSPServer = functools.partial(NativeRTSPServer, host=LOOPBACK)  # type: ignore[misc]

    camera = IPCamera(config)
    if not camera.start():
        print("ipycam did not start", file=sys.stderr, flush=True)
        return 1
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    # A snapshot needs a frame that has been streamed; send the first before saying ready.
    frame_number = 0
    camera.stream(synthetic_picture(args.width, args.height, frame_number))
    print("ready", flush=True)
    try:
        while not stop.is_set():
            frame_number += 1
            camera.stream(synthetic_picture(args.width, args.height, frame_number))  # paces itself to fps
    finally:
        camera.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
