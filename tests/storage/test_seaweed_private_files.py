"""The embedded store keeps its secrets and its evidence to itself on a shared host.

No secret in any command line, every file the owner's alone, certificates made once and reused, and
nothing on the host (WEED_* variables, ~/.seaweedfs, the working directory) that changes its
security settings.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import stat
import time
import tomllib
from pathlib import Path

import pytest
import requests

from storage.object_store import ObjectStore
from storage.seaweed import SeaweedServer, SeaweedSettings
from storage.seaweed_tls import ensure_tls_material
from tests.storage import seaweed_probes as probe

pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")


def _secrets_of(server: SeaweedServer) -> list[str]:
    """The S3 secret and every key in weed's security configuration (JWT keys, admin password)."""
    assert server.endpoint is not None
    found = [server.endpoint.secret_key]
    security = server.settings.data_dir / "config" / "security.toml"
    if security.exists():

        def walk(node: object) -> None:
            if isinstance(node, dict):
                for name, value in node.items():
                    if name in ("key", "password") and isinstance(value, str) and value and not value.startswith("/"):
                        found.append(value)
                    walk(value)

        walk(tomllib.loads(security.read_text(encoding="utf-8")))
    return found


def _loose_modes(root: Path) -> list[str]:
    """Paths under root (root included) that anyone but the owner could use."""
    loose = []
    for path in [root, *root.rglob("*")]:
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode) or not stat.S_IMODE(st.st_mode) & 0o077:
            continue
        # weed itself sets its volume info files (.vif: format version, replication, sizes; no object
        # data) to 0644 after writing them, whatever the umask; inside the 0700 directories they
        # reach no one (test_seaweed_side_doors reads every file as another user).
        if path.suffix == ".vif" and stat.S_IMODE(st.st_mode) == 0o644:
            continue
        loose.append(f"{oct(stat.S_IMODE(st.st_mode))} {path}")
    return loose


def test_no_secret_in_any_weed_command_line(seaweed: SeaweedServer) -> None:
    assert seaweed.pid is not None
    pids = probe.process_tree(seaweed.pid)
    keys = _secrets_of(seaweed)
    assert len(keys) >= 1
    for pid in pids:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode("utf-8", "replace")
        environ = Path(f"/proc/{pid}/environ").read_bytes().decode("utf-8", "replace")
        for key in keys:
            assert key not in cmdline, f"a secret is in the command line of {pid}"
            assert key not in environ, f"a secret is in the environment of {pid}"
    saved = seaweed.settings.data_dir / "data" / "mini.options"  # weed's copy of its own flags
    if saved.exists():
        text = saved.read_text(encoding="utf-8")
        assert not [k for k in keys if k in text]


def test_every_store_file_is_the_owner_alone(seaweed: SeaweedServer, store: ObjectStore) -> None:
    for n in range(3):
        store.put_small(f"private/{n}.bin", os.urandom(10_000), "application/octet-stream")
    root = seaweed.settings.data_dir
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    assert stat.S_IMODE((root / "data").stat().st_mode) == 0o700
    assert list((root / "data").glob("*.dat")), "no volume written"
    assert _loose_modes(root) == []


@pytest.mark.slow
def test_a_store_from_before_is_closed_at_start(tmp_path: Path) -> None:
    settings = SeaweedSettings(data_dir=tmp_path / "store", bucket="old-modes")
    first = SeaweedServer(settings)
    secret = first.start().secret_key
    try:
        ObjectStore(first.endpoint).ensure_evidence_bucket()  # type: ignore[arg-type]
        version = ObjectStore(first.endpoint).put_small("k", b"v" * 100, "text/plain").version_id  # type: ignore[arg-type]
    finally:
        first.stop()
    # As an earlier launcher left it: world-readable volumes and its password flag saved by weed.
    for path in [settings.data_dir, *settings.data_dir.rglob("*")]:
        if not path.is_symlink() and not path.is_socket():
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
    saved = settings.data_dir / "data" / "mini.options"
    saved.write_text(f"admin.password={secret}\nwebdav=false\n", encoding="utf-8")
    second = SeaweedServer(settings)
    second.start()
    try:
        assert _loose_modes(settings.data_dir) == []
        assert secret not in saved.read_text(encoding="utf-8")
        assert ObjectStore(second.endpoint).read_small("k", version, 1000) == b"v" * 100  # type: ignore[arg-type]
    finally:
        second.stop()


def _forged_jwt(key: str) -> str:
    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps({"exp": int(time.time()) + 300}).encode())
    sig = b64(hmac.new(key.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest())
    return f"{head}.{body}.{sig}"


def test_host_configuration_cannot_weaken_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """weed reads WEED_* variables before its files, and security.toml / filer.toml from its working
    directory and ~/.seaweedfs (then /usr/local/etc/seaweedfs, /etc/seaweedfs). Planted there, a key
    the attacker knows and a configuration without TLS must change nothing."""
    known = "key-the-attacker-planted"
    hostile = (
        "[jwt.filer_signing]\n"
        f'key = "{known}"\n'
        "[jwt.filer_signing.read]\n"
        f'key = "{known}"\n'
        "[jwt.signing]\n"
        f'key = "{known}"\n'
    )
    rogue_store = tmp_path / "rogue-filer-store"
    for where in (tmp_path / "home" / ".seaweedfs", tmp_path / "cwd"):
        where.mkdir(parents=True)
        (where / "security.toml").write_text(hostile, encoding="utf-8")
        (where / "filer.toml").write_text(f'[leveldb2]\nenabled = true\ndir = "{rogue_store}"\n', encoding="utf-8")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path / "cwd")
    for name in ("JWT_FILER_SIGNING_KEY", "JWT_FILER_SIGNING_READ_KEY", "JWT_SIGNING_KEY", "JWT_SIGNING_READ_KEY"):
        monkeypatch.setenv(f"WEED_{name}", known)
    server = SeaweedServer(SeaweedSettings(data_dir=tmp_path / "store", bucket="host-config"))
    endpoint = server.start()
    try:
        store = ObjectStore(endpoint)
        store.ensure_evidence_bucket()
        stored = store.put_small("clips/x.json", b"{}", "application/json")
        filer = probe.flag_ports(server.pid)["filer.http"]  # type: ignore[arg-type]
        tls = server.settings.data_dir / "tls"
        # The attacker even holds a client certificate of the store, if there is one: only the JWT key is tested.
        cert = (str(tls / "client.crt"), str(tls / "client.key")) if (tls / "client.crt").exists() else None
        scheme = "https" if cert else "http"
        token = {"Authorization": f"Bearer {_forged_jwt(known)}"}
        for method, path in (
            ("DELETE", "/buckets/host-config/clips?recursive=true&ignoreRecursiveError=true"),
            ("GET", "/buckets/host-config/clips/x.json.versions/"),
        ):
            resp = requests.request(
                method, f"{scheme}://127.0.0.1:{filer}{path}", headers=token, cert=cert, verify=False, timeout=5
            )
            assert resp.status_code == 401, (method, resp.status_code, resp.text)
        assert not rogue_store.exists()
        assert [v.version_id for v in store.list_versions("clips/")] == [stored.version_id]
    finally:
        server.stop()


def test_certificates_are_made_once_and_remade_only_when_broken(tmp_path: Path) -> None:
    settings = SeaweedSettings(data_dir=tmp_path / "store", bucket="certs")
    tls = settings.data_dir / "tls"
    server = SeaweedServer(settings)
    server.start()
    server.stop()
    first = {p.name: p.read_bytes() for p in tls.iterdir()}
    assert {"ca.crt", "master.crt", "master.key", "client.crt"} <= set(first)
    assert not [n for n in first if "ca.key" in n]  # the CA's key is not kept
    server.start()
    try:
        assert ObjectStore(server.endpoint).ping()[0]  # type: ignore[arg-type]
        assert {p.name: p.read_bytes() for p in tls.iterdir()} == first
    finally:
        server.stop()
    (tls / "filer.key").unlink()
    ensure_tls_material(tls)  # what start() does first
    assert (tls / "filer.key").exists()
    assert (tls / "ca.crt").read_bytes() != first["ca.crt"]  # a whole new set: the CA's key was never kept
