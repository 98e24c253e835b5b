"""`python -m branch_agent`: run the counter agent, show the signing key, sync, upload, recover."""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import signal
import sys
from datetime import datetime, time
from pathlib import Path

from branch_agent.center_client import CenterRefused, CenterUnavailable
from branch_agent.config import ENV_SECRET_KEY, BranchConfig, load_branch_config
from branch_agent.upload_window import in_window, window_opens_for
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
    from apscheduler.schedulers.background import BackgroundScheduler
    from waitress import create_server

    from branch_agent.services import build_services
    from branch_agent.web.app import create_app

    svc = build_services(config)
    try:
        svc.sync_from_center()
    except (CenterUnavailable, CenterRefused) as exc:
        log.warning("catalogue sync failed, using the local copy: %s", exc)
    start = window_opens_for(config.branch.code, time.fromisoformat(config.upload.window_start))
    end = time.fromisoformat(config.upload.window_end)

    def upload_if_in_window() -> None:
        if in_window(datetime.now(svc.tz), start, end):
            svc.uploader.run_once()

    scheduler = BackgroundScheduler(timezone=svc.tz)
    scheduler.add_job(upload_if_in_window, "interval", minutes=5, max_instances=1, coalesce=True, id="upload")
    scheduler.start()
    server = create_server(create_app(svc, _session_secret(config)), host=config.server.host, port=config.server.port, threads=8)
    signal.signal(signal.SIGTERM, lambda *_: server.close())
    print(f"counter UI on http://{config.server.host}:{server.effective_port}", flush=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        scheduler.shutdown(wait=False)
        svc.close()
    return 0


def cmd_keys_show(config: BranchConfig, args: argparse.Namespace) -> int:
    print(SigningKey.load_or_create(config.key_path).public_key_b64)
    return 0


def cmd_upload_run(config: BranchConfig, args: argparse.Namespace) -> int:
    from branch_agent.services import build_services

    svc = build_services(config, open_sources=False)
    results = svc.uploader.run_once()
    for r in results:
        print(f"{r.clip_id} {r.state} parts={r.parts_sent} bytes={r.bytes_sent} {r.detail}")
    return 0 if all(r.state == "verified" for r in results) else 1


def cmd_recover(config: BranchConfig, args: argparse.Namespace) -> int:
    from branch_agent.services import build_services

    build_services(config, open_sources=False)  # recovery runs as part of start-up
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m branch_agent", description="Branch agent: records sales at the counter and sends them to the center.")
    parser.add_argument("--config", type=Path, required=True, help="branch configuration file (TOML)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("serve", help="run the counter UI, recorders and the upload scheduler").set_defaults(fn=cmd_serve)
    keys = sub.add_parser("keys", help="the branch's manifest-signing key").add_subparsers(dest="keys_command", required=True)
    keys.add_parser("show", help="print the public key to enrol at the center (created on first use)").set_defaults(fn=cmd_keys_show)
    upload = sub.add_parser("upload", help="uploads").add_subparsers(dest="upload_command", required=True)
    upload.add_parser("run", help="upload every queued clip now, ignoring the window").set_defaults(fn=cmd_upload_run)
    sub.add_parser("recover", help="mark clips cut off by a crash as interrupted, with their manifests").set_defaults(fn=cmd_recover)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        config = load_branch_config(args.config)
        return int(args.fn(config, args))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
