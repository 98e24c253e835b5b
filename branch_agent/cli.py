"""`python -m branch_agent`: run the counter agent, show the signing key, sync, upload, recover."""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import secrets
import sys
from pathlib import Path
from urllib.parse import urlsplit

from branch_agent.config import ENV_SECRET_KEY, BranchConfig, load_branch_config
from storage.config_file import ConfigError
from storage.signing import SigningKey

log = logging.getLogger("branch_agent")


def _session_secret(config: BranchConfig) -> str:
    value = os.environ.get(ENV_SECRET_KEY, "")
    if value:
        return value
    path = config.branch.data_dir / "session.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def cmd_serve(config: BranchConfig, args: argparse.Namespace) -> int:
    from waitress import create_server

    from branch_agent.schedule import build_scheduler
    from branch_agent.services import build_services
    from branch_agent.web.app import create_app
    from storage.web_serving import serve_until_terminated

    svc = build_services(config)
    # A failed pull is logged and kept in the sync status; the counter works on the local copy.
    svc.sync_from_center()
    scheduler = build_scheduler(svc)
    scheduler.start()
    from branch_agent.web.import_api import LIMITS as IMPORT_LIMITS

    server = create_server(
        create_app(svc, _session_secret(config)),
        host=config.server.host,
        port=config.server.port,
        threads=8,
        # The largest request is an imported recording; every other route is held to far less by the app.
        max_request_body_size=IMPORT_LIMITS.max_bytes + 2 * 1024 * 1024,
    )
    print(f"counter UI on http://{config.server.host}:{server.effective_port}", flush=True)
    try:
        serve_until_terminated(server)
    finally:
        scheduler.shutdown(wait=False)
        svc.close()
    return 0


def cmd_keys_show(config: BranchConfig, args: argparse.Namespace) -> int:
    print(SigningKey.load_or_create(config.key_path).public_key_b64)
    return 0


def cmd_upload_run(config: BranchConfig, args: argparse.Namespace) -> int:
    from branch_agent.services import build_services
    from branch_agent.upload.uploader import UploadAlreadyRunning

    svc = build_services(config, open_sources=False)
    try:
        results = svc.uploader.run_once()
    except UploadAlreadyRunning as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for r in results:
        print(f"{r.clip_id} {r.state} parts={r.parts_sent} bytes={r.bytes_sent} {r.detail}")
    return 0 if all(r.state == "verified" for r in results) else 1


def cmd_recover(config: BranchConfig, args: argparse.Namespace) -> int:
    from branch_agent.services import build_services

    build_services(config, open_sources=False)  # recovery runs as part of start-up
    return 0


def cmd_cameras_probe(config: BranchConfig | None, args: argparse.Namespace) -> int:
    import av.error

    from branch_agent.sources.probe import probe_stream
    from branch_agent.sources.stream_target import StreamTarget, describe_stream_error, rtsp_options
    from branch_agent.sources.stream_urls import redact_url, stream_url_with_credentials

    is_rtsp = args.url.startswith(("rtsp://", "rtsps://"))
    url = args.url
    if args.user:
        if not is_rtsp:
            print("error: --user applies to rtsp:// URLs only", file=sys.stderr)
            return 2
        password = _password_from_env(args.password_env)
        if password is None:
            print(f"error: environment variable {args.password_env} is not set", file=sys.stderr)
            return 2
        url = stream_url_with_credentials(url, args.user, password)
    options = rtsp_options(args.transport, args.timeout) if is_rtsp else {}
    target = StreamTarget(url=url, display=redact_url(url), format=args.format or None, options=options)
    try:
        result = probe_stream(target, seconds=args.seconds, timeout_s=args.timeout)
    except (av.error.FFmpegError, OSError) as exc:
        print(
            f"error: cannot open {target.display}: {describe_stream_error(exc, url, target.display)}", file=sys.stderr
        )
        return 1
    print(f"{result.display}: opened in {result.open_s:.2f} s", end="")
    print(
        f", first picture after {result.first_picture_s:.2f} s"
        if result.first_picture_s is not None
        else ", no picture"
    )
    for v in result.video:
        fps = f"{v.fps:g} fps" if v.fps else "fps unknown"
        print(f"  video: {v.codec} {v.width}x{v.height} {fps} {v.pixel_format or ''}".rstrip())
    if result.measured_fps is not None:
        print(f"  measured: {result.measured_fps:.1f} pictures/s over {args.seconds:g} s")
    for a in result.audio:
        print(f"  audio: {a.codec} {a.sample_rate} Hz, {a.channels} channel(s)")
    if not result.audio:
        print("  audio: none")
    return 0 if result.video or result.audio else 1


def cmd_cameras_discover(config: BranchConfig | None, args: argparse.Namespace) -> int:
    from branch_agent.sources.onvif_camera import query_device
    from branch_agent.sources.onvif_endpoint import OnvifEndpoint, OnvifError
    from branch_agent.sources.ws_discovery import discover

    password = _password_from_env(args.password_env) if args.user else ""
    if password is None:
        print(f"error: environment variable {args.password_env} is not set", file=sys.stderr)
        return 2
    devices = discover(timeout_s=args.timeout, address=args.address, port=args.port)
    if not devices:
        where = args.address or "the local network (multicast)"
        print(f"no ONVIF device answered from {where} within {args.timeout:g} s")
        return 1
    unqueried = 0
    for d in devices:
        print(f"{d.endpoint_reference}")
        for xaddr in d.xaddrs:
            print(f"  service: {xaddr}")
        for scope in d.scopes:
            print(f"  scope: {scope}")
        if not args.user:
            continue
        unqueried += 1
        for xaddr in d.xaddrs:
            try:
                parts = urlsplit(xaddr)
                port = parts.port or 80
            except ValueError:
                print(f"  skipped: the device announced an unusable service address {xaddr!r}")
                continue
            if parts.scheme != "http" or not parts.hostname:
                # The ONVIF client speaks plain HTTP to the device service; HTTPS-only devices are not supported.
                print(f"  skipped: {xaddr} is not an http:// device service address")
                continue
            try:
                device = query_device(OnvifEndpoint(parts.hostname, port, args.user, password, args.timeout))
            except OnvifError as exc:
                print(f"  error: {exc}")
                continue
            print(
                f"  device: {device.manufacturer} {device.model} firmware {device.firmware_version} serial {device.serial_number}"
            )
            print(f"  clock: {device.clock_offset_s:+.1f} s against this host")
            for prof in device.profiles:
                fps = f" {prof.fps:g} fps" if prof.fps else ""
                print(
                    f"  profile {prof.token} {prof.name}: {prof.encoding} {prof.width}x{prof.height}{fps} {prof.stream_uri}"
                )
            unqueried -= 1
            break
    # Listed but not readable with the given credentials: worth a non-zero exit in an install script.
    return 1 if unqueried else 0


def _password_from_env(variable: str) -> str | None:
    """None when the named variable is unset; a camera password is never taken on the command line."""
    if not variable:
        return ""
    return os.environ.get(variable)


def cmd_staff_bootstrap(config: BranchConfig, args: argparse.Namespace) -> int:
    from branch_agent.web.staff_bootstrap import BootstrapRefused, bootstrap_admin

    password = os.environ.get(args.password_env, "") if args.password_env else getpass.getpass("password: ")
    try:
        bootstrap_admin(config, args.code, args.name, password)
    except BootstrapRefused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"branch admin {args.code} created; it is replaced by the staff list at the next sync with the center")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m branch_agent",
        description="Branch agent: records sales at the counter and sends them to the center.",
    )
    parser.add_argument("--config", type=Path, help="branch configuration file (TOML); required except for 'cameras'")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("serve", help="run the counter UI, recorders and the upload scheduler").set_defaults(fn=cmd_serve)
    keys = sub.add_parser("keys", help="the branch's manifest-signing key").add_subparsers(
        dest="keys_command", required=True
    )
    keys.add_parser("show", help="print the public key to enrol at the center (created on first use)").set_defaults(
        fn=cmd_keys_show
    )
    upload = sub.add_parser("upload", help="uploads").add_subparsers(dest="upload_command", required=True)
    upload.add_parser("run", help="upload every queued clip now, ignoring the window").set_defaults(fn=cmd_upload_run)
    sub.add_parser("recover", help="mark clips cut off by a crash as interrupted, with their manifests").set_defaults(
        fn=cmd_recover
    )
    staff = sub.add_parser("staff", help="counter staff").add_subparsers(dest="staff_command", required=True)
    boot = staff.add_parser(
        "bootstrap", help="first-run branch admin, for a branch that has never synced its staff list"
    )
    boot.add_argument("--code", required=True, help="7-digit staff code")
    boot.add_argument("--name", required=True)
    boot.add_argument(
        "--password-env", default="", help="read the password from this environment variable (else asked)"
    )
    boot.set_defaults(fn=cmd_staff_bootstrap)
    cameras = sub.add_parser("cameras", help="find and check cameras").add_subparsers(
        dest="cameras_command", required=True
    )
    disc = cameras.add_parser("discover", help="list ONVIF devices (WS-Discovery) with their profiles")
    disc.add_argument("--address", help="probe this address by unicast instead of multicast")
    disc.add_argument("--port", type=int, default=3702)
    disc.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for answers")
    disc.add_argument("--user", default="", help="ONVIF user, to read each device's profiles")
    disc.add_argument("--password-env", default="", help="environment variable holding that user's password")
    disc.set_defaults(fn=cmd_cameras_discover, needs_config=False)
    probe = cameras.add_parser("probe", help="open a stream and print its codec, resolution, fps and audio")
    probe.add_argument("url", help="rtsp://..., a file, or a device such as /dev/video0 (with --format v4l2)")
    probe.add_argument("--transport", choices=("tcp", "udp"), default="tcp", help="RTSP transport")
    probe.add_argument("--format", default="", help="FFmpeg input format, e.g. v4l2 or alsa")
    probe.add_argument("--seconds", type=float, default=2.0, help="how long to measure the frame rate")
    probe.add_argument("--timeout", type=float, default=10.0)
    probe.add_argument("--user", help="RTSP user name, when the URL carries none")
    probe.add_argument("--password-env", default="", help="environment variable holding the RTSP password")
    probe.set_defaults(fn=cmd_cameras_probe, needs_config=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "needs_config", True):
        return int(args.fn(None, args))
    if args.config is None:
        parser.error(f"--config is required for '{args.command}'")
    try:
        config = load_branch_config(args.config)
        return int(args.fn(config, args))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
