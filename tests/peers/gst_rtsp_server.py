"""A live RTSP camera played by GStreamer's RTSP server (Debian gir1.2-gst-rtsp-server-1.0).

Run with the system Python, which has PyGObject: ``/usr/bin/python3 gst_rtsp_server.py --port N``.
It serves ``rtsp://127.0.0.1:N/cam``: a moving test picture in H.264 and, unless ``--no-audio``,
a 1 kHz tone in G.711 A-law, the codec most branch cameras send. ``--user``/``--password`` turn on
RTSP basic authentication. It prints ``ready`` once the port is listening.
"""

from __future__ import annotations

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def pipeline(width: int, height: int, fps: int, audio: bool, pattern: str = "ball") -> str:
    # is-live makes the sources run on the clock, like a camera; key-int = 1 s GOP like the recorder.
    video = (
        f"videotestsrc is-live=true pattern={pattern} ! video/x-raw,width={width},height={height},framerate={fps}/1 "
        f"! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={fps} bitrate=2000 "
        f"! rtph264pay name=pay0 pt=96 config-interval=1"
    )
    if not audio:
        return f"( {video} )"
    sound = (
        "audiotestsrc is-live=true wave=sine freq=1000 volume=0.3 ! audio/x-raw,rate=8000,channels=1 "
        "! alawenc ! rtppcmapay name=pay1 pt=8"
    )
    return f"( {video} {sound} )"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--no-audio", action="store_true")
    parser.add_argument("--user", default="")
    parser.add_argument("--password", default="")
    # videotestsrc's picture: "ball" moves; "smpte100" (colour bars) stands still like a hung camera.
    parser.add_argument("--pattern", default="ball")
    args = parser.parse_args()

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(pipeline(args.width, args.height, args.fps, not args.no_audio, args.pattern))
    factory.set_shared(True)
    if args.user:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "viewer")
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password), token)
        server.set_auth(auth)
        permissions = GstRtspServer.RTSPPermissions()
        permissions.add_permission_for_role("viewer", GstRtspServer.RTSP_PERM_MEDIA_FACTORY_ACCESS, True)
        permissions.add_permission_for_role("viewer", GstRtspServer.RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, True)
        factory.set_permissions(permissions)
    server.get_mount_points().add_factory("/cam", factory)
    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{args.port}", file=sys.stderr, flush=True)
        return 1
    loop = GLib.MainLoop()
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, loop.quit)
    print("ready", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
