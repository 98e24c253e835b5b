"""SeaweedFS's own ports, sockets and files are no way around Object Lock.

The embedded store locks evidence with S3 Object Lock (COMPLIANCE), but `weed mini` also runs a
master, a volume server, a filer and an admin server, each with an HTTP and a gRPC port on the same
host. Here a local attacker with no credentials tries all of them, and the raw files as another
user: every locked version must come out intact, and nothing must be read.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
import requests
import urllib3
from requests.adapters import HTTPAdapter

from storage.object_store import MIN_PART_SIZE, ObjectStore, sha256_b64
from storage.seaweed import SeaweedServer, SeaweedSettings
from tests.storage import seaweed_probes as probe

BUCKET = "evidence-side-doors"
pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")


@dataclass(frozen=True)
class Locked:
    key: str
    version_id: str
    body: bytes
    retain_until: datetime


@dataclass(frozen=True)
class Armed:
    server: SeaweedServer
    store: ObjectStore
    evidence: list[Locked]
    foreign_cert: tuple[Path, Path]

    @property
    def pids(self) -> list[int]:
        assert self.server.pid is not None
        return probe.process_tree(self.server.pid)

    @property
    def s3_port(self) -> int:
        assert self.server.endpoint is not None
        return int(self.server.endpoint.url.rsplit(":", 1)[1])

    def side_ports(self) -> set[int]:
        """Every TCP port the store listens on but the S3 one the center uses."""
        ports = probe.listening_tcp_ports(self.pids)
        assert self.s3_port in ports
        return ports - {self.s3_port}


@pytest.fixture(scope="module")
def armed() -> Iterator[Armed]:
    # A directory others may traverse, as /srv or /var/lib would be: only the store's own modes may
    # stand between another user and the evidence.
    base = Path(tempfile.mkdtemp(prefix="dr-side-doors-", dir="/tmp"))
    os.chmod(base, 0o755)
    server = SeaweedServer(SeaweedSettings(data_dir=base / "store", bucket=BUCKET))
    try:
        endpoint = server.start()
        store = ObjectStore(endpoint)
        store.ensure_evidence_bucket(default_lock_days=1)
        until = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
        evidence = []
        # A clip, as the archive receives it: presigned multipart upload, then COMPLIANCE retention.
        clip_key = f"clips/B001/{secrets.token_hex(6)}.mp4"
        parts = [b"CLIP-EVIDENCE-" + secrets.token_bytes(MIN_PART_SIZE), b"CLIP-TAIL-" + secrets.token_bytes(1000)]
        upload_id = store.create_multipart(clip_key)
        for n, body in enumerate(parts, 1):
            signed = store.presign_part(clip_key, upload_id, n, sha256_b64(body), 300)
            assert requests.put(signed.url, data=body, headers=signed.headers, timeout=30).status_code == 200
        clip = store.complete_multipart(clip_key, upload_id, store.list_parts(clip_key, upload_id))
        store.set_retention(clip_key, clip.version_id, until)
        evidence.append(Locked(clip_key, clip.version_id, b"".join(parts), until))
        # Its manifest, as the archive writes small evidence files: locked in the same request.
        manifest = b'{"manifest": "MANIFEST-EVIDENCE", "nonce": "' + secrets.token_hex(8).encode() + b'"}'
        stored = store.put_small(clip_key + ".manifest.json", manifest, "application/json", locked_until=until)
        evidence.append(Locked(stored.key, stored.version_id, manifest, until))
        yield Armed(server, store, evidence, probe.foreign_client_certificate(Path(tempfile.mkdtemp())))
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


def _assert_evidence_intact(armed: Armed) -> None:
    versions = {(v.key, v.version_id) for v in armed.store.list_versions("clips/")}
    for item in armed.evidence:
        assert (item.key, item.version_id) in versions, f"{item.key} {item.version_id} is gone"
        info = armed.store.head(item.key, item.version_id)
        assert info.lock_mode == "COMPLIANCE"
        assert info.retain_until is not None and info.retain_until >= item.retain_until
        assert armed.store.read_small(item.key, item.version_id, 16 * 1024 * 1024) == item.body


def _markers(armed: Armed) -> list[bytes]:
    return [b"CLIP-EVIDENCE-", b"CLIP-TAIL-", b"MANIFEST-EVIDENCE"] + [e.body[14:46] for e in armed.evidence]


@dataclass
class Outcome:
    answered: list[str]  # requests a side port carried out (any 2xx or 3xx)
    leaked: list[str]  # responses with evidence bytes in them
    tokens: list[str]  # Authorization headers handed out


class _AnyServerCertificate(HTTPAdapter):
    """HTTPS that accepts whatever certificate a port shows (we are the attacker, not its client), with
    one TLS context for all requests instead of one per connection."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ssl_context"] = probe.client_tls()
        super().init_poolmanager(*args, **kwargs)


_attacker = threading.local()


def _session() -> requests.Session:
    if not hasattr(_attacker, "session"):
        session = requests.Session()
        session.mount("https://", _AnyServerCertificate())
        _attacker.session = session
    return cast(requests.Session, _attacker.session)


def _send(method: str, url: str, outcome: Outcome, markers: list[bytes], **kw: Any) -> None:
    try:
        resp = _session().request(method, url, timeout=3, verify=False, allow_redirects=False, **kw)
    except (requests.RequestException, OSError, urllib3.exceptions.HTTPError):
        return  # refused, reset, or a TLS handshake that demanded a certificate we do not have
    what = f"{method} {url} -> {resp.status_code}"
    if resp.status_code < 400:
        outcome.answered.append(what)
    if any(m in resp.content for m in markers):
        outcome.leaked.append(what)
    if resp.headers.get("Authorization"):
        outcome.tokens.append(resp.headers["Authorization"])


def _attack_paths(armed: Armed, fids: list[str]) -> list[tuple[str, str, dict[str, object]]]:
    b = BUCKET
    paths: list[tuple[str, str, dict[str, object]]] = []
    for item in armed.evidence:
        key, versions = item.key, f"{item.key}.versions"
        paths += [
            ("GET", f"/buckets/{b}/{key}", {}),
            ("GET", f"/buckets/{b}/{versions}/", {"headers": {"Accept": "application/json"}}),
            ("PUT", f"/buckets/{b}/{key}", {"data": b"overwritten"}),
            ("POST", f"/buckets/{b}/{versions}/", {"files": {"file": ("v_evil", b"overwritten")}}),
            ("DELETE", f"/buckets/{b}/{versions}?recursive=true&ignoreRecursiveError=true", {}),
        ]
    paths += [
        ("GET", f"/buckets/{b}/clips/?limit=1000", {"headers": {"Accept": "application/json"}}),
        ("DELETE", f"/buckets/{b}/clips?recursive=true&ignoreRecursiveError=true", {}),
        ("DELETE", f"/buckets/{b}?recursive=true&ignoreRecursiveError=true", {}),
        ("GET", "/dir/assign", {}),
        ("GET", "/dir/status", {}),
        ("GET", "/vol/status", {}),
        ("GET", "/status", {}),
        ("GET", f"/col/delete?collection={b}", {}),
        ("GET", "/", {}),
    ]
    for fid in fids:
        paths += [
            ("GET", f"/dir/lookup?fileId={fid}", {}),  # on a master without guard: a write token for fid
            ("GET", f"/dir/lookup?fileId={fid}&read=yes", {}),
            ("GET", f"/{fid}", {}),
            ("PUT", f"/{fid}", {"data": b"overwritten"}),
            ("DELETE", f"/{fid}", {}),
        ]
    return paths


def test_side_ports_neither_delete_nor_read_locked_evidence(armed: Armed) -> None:
    fids = probe.file_ids(armed.server.settings.data_dir / "data")
    assert len(fids) >= 3, fids  # the clip's chunks and the manifest, found as an attacker would
    ports = armed.side_ports()
    assert len(ports) >= 8, ports  # master, volume, filer, admin: http and grpc; S3's grpc
    outcome = Outcome([], [], [])
    markers = _markers(armed)
    # Plain HTTP, and HTTPS without a client certificate (the gRPC test below also offers a foreign one).
    urls = [f"{scheme}://127.0.0.1:{port}" for port in sorted(ports) for scheme in ("http", "https")]
    with ThreadPoolExecutor(max_workers=4) as pool:
        attempts = [
            pool.submit(_send, method, base + path, outcome, markers, **kw)
            for base in urls
            for method, path, kw in _attack_paths(armed, fids)
        ]
        for attempt in attempts:
            attempt.result()
    # Whatever token a port handed out is tried on every needle at every port.
    with ThreadPoolExecutor(max_workers=4) as pool:
        attempts = [
            pool.submit(_send, method, f"{base}/{fid}", outcome, markers, headers={"Authorization": token})
            for token in set(outcome.tokens)
            for base in urls
            for fid in fids
            for method in ("GET", "DELETE")
        ]
        for attempt in attempts:
            attempt.result()
    _assert_evidence_intact(armed)
    assert outcome.leaked == []
    assert outcome.tokens == []
    assert outcome.answered == []


def test_grpc_ports_refuse_clients_without_the_store_certificate(armed: Armed) -> None:
    answered = []
    for port in sorted(armed.side_ports()):
        for name, tls in (
            ("plaintext", None),
            ("tls, no client certificate", probe.client_tls()),
            ("tls, foreign client certificate", probe.client_tls(cert=armed.foreign_cert)),
        ):
            if probe.answers_h2(probe.grpc_answer(port, tls)):
                answered.append(f"{port} over {name}")
    assert answered == []
    _assert_evidence_intact(armed)


def test_the_store_certificate_is_what_opens_its_ports(armed: Armed) -> None:
    """The control of the two tests above: the same probes, with the store's own client certificate,
    do reach SeaweedFS (so a refusal above is the store's doing, not a broken probe); the filer's
    HTTP API then still wants a JWT signed with a key that never leaves the store's 0600 config."""
    tls = armed.server.tls_dir
    own = (tls / "client.crt", tls / "client.key")
    grpc_ports = {armed.server.ports[f"{c}.grpc"] for c in ("master", "volume", "filer")}
    for port in grpc_ports:
        assert probe.answers_h2(probe.grpc_answer(port, probe.client_tls(cert=own, ca=tls / "ca.crt"))), port
    filer = armed.server.ports["filer.http"]
    for method, path in (
        ("DELETE", f"/buckets/{BUCKET}/clips?recursive=true&ignoreRecursiveError=true"),
        ("GET", f"/buckets/{BUCKET}/{armed.evidence[1].key}.versions/"),
    ):
        resp = requests.request(
            method, f"https://127.0.0.1:{filer}{path}", cert=(str(own[0]), str(own[1])), verify=False, timeout=5
        )
        assert resp.status_code == 401, (method, path, resp.status_code, resp.text)
    _assert_evidence_intact(armed)


def test_another_local_user_reads_no_file_and_reaches_no_socket(armed: Armed) -> None:
    if os.geteuid() != 0:
        pytest.skip("switching to the user nobody needs root")
    root = armed.server.settings.data_dir
    paths = [str(root), *(str(p) for p in root.rglob("*"))]
    paths += sorted(probe.listening_unix_sockets(armed.pids))
    seen = probe.as_nobody(paths)
    assert seen.readable_files == []
    assert seen.listable_dirs == []
    assert seen.writable_sockets == []
    _assert_evidence_intact(armed)


def test_locked_versions_survive_everything_above(armed: Armed) -> None:
    _assert_evidence_intact(armed)
