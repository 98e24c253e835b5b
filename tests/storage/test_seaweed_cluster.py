"""The archive on the production shape of the store: a SeaweedFS cluster (3 masters in raft, 3 volume
servers on 3 racks with replication 010, a filer with a persistent leveldb2 store, the S3 gateway),
with the embedded store's security (JWT keys, mutual TLS on every port but S3's).

Clips go in through the real branch protocol (tests/center_platform/archive_rig.py, pointed at the
cluster); then the cluster's side ports are attacked as the embedded store's are; then it is broken:
a volume server killed with SIGKILL during an upload and during a replay, the filer restarted.
"""

from __future__ import annotations

import hashlib
import secrets
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import pytest
from botocore.exceptions import ClientError

from storage.object_store import ObjectStore, ObjectVersion, StorageError
from storage.seaweed_cluster import ClusterSettings, SeaweedCluster
from tests.center_platform.archive_rig import ArchiveRig, archive_rig  # noqa: F401
from tests.storage import seaweed_probes as probe
from tests.storage import test_seaweed_side_doors as side

BUCKET = "evidence-cluster"
pytestmark = [
    pytest.mark.cluster,
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning"),
]


@pytest.fixture(scope="module")
def cluster() -> Iterator[SeaweedCluster]:
    base = Path(tempfile.mkdtemp(prefix="dr-cluster-", dir="/tmp"))
    server = SeaweedCluster(ClusterSettings(data_dir=base / "store", bucket=BUCKET, masters=3))
    try:
        endpoint = server.start()
        ObjectStore(endpoint).ensure_evidence_bucket(default_lock_days=0)
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture()
def store(cluster: SeaweedCluster) -> ObjectStore:
    assert cluster.endpoint is not None
    return ObjectStore(cluster.endpoint)


@pytest.fixture()
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'center.db'}"


def _locked_version(rig: ArchiveRig, clip_id: str) -> tuple[str, str]:
    from center_platform.db.models import Recording

    with rig.sessions() as db:
        rec = db.query(Recording).filter_by(clip_id=clip_id).one()
        return rec.object_key, rec.version_id


def _assert_undeletable(store: ObjectStore, key: str, version_id: str) -> None:
    info = store.head(key, version_id)
    assert info.lock_mode == "COMPLIANCE" and info.retain_until is not None
    assert info.retain_until > datetime.now(UTC)
    with pytest.raises(StorageError):
        store.delete_version(key, version_id)
    report = store.delete_versions([ObjectVersion(key, version_id)])
    assert report.deleted == [] and len(report.failed) == 1
    assert store.head(key, version_id).version_id == version_id


def _volume_copies(cluster: SeaweedCluster) -> dict[str, set[str]]:
    """Volume id -> the volume servers holding a copy of it, from the files on disk."""
    copies: dict[str, set[str]] = {}
    for name in cluster.names("volume"):
        for dat in cluster.node_dir(name).glob(f"{BUCKET}_*.dat"):
            copies.setdefault(dat.stem, set()).add(name)
    return copies


def test_archive_on_the_cluster_replicates_and_locks(archive_rig: ArchiveRig, cluster: SeaweedCluster) -> None:
    media = secrets.token_bytes(7 * 1024 * 1024)  # two parts of the rig's 5 MiB
    clip_id = archive_rig.archive(media)
    key, version = _locked_version(archive_rig, clip_id)
    store = archive_rig.store
    assert store.sha256_hex(key, version) == (hashlib.sha256(media).hexdigest(), len(media))
    _assert_undeletable(store, key, version)
    copies = _volume_copies(cluster)
    assert copies, "no volume of the bucket on any volume server"
    # 010: every volume of the bucket on exactly two servers, i.e. two racks.
    assert all(len(servers) == 2 for servers in copies.values()), copies


# -- side doors ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterArmed:
    """What the embedded store's side-door probes need, for the cluster."""

    cluster: SeaweedCluster
    store: ObjectStore
    evidence: list[side.Locked]

    @property
    def s3_port(self) -> int:
        return self.cluster.ports["s3.http"]

    def side_ports(self) -> set[int]:
        ports = probe.listening_tcp_ports(self.cluster.pids())
        assert self.s3_port in ports
        return ports - {self.s3_port}

    def file_ids(self) -> list[str]:
        return [fid for n in self.cluster.names("volume") for fid in probe.file_ids(self.cluster.node_dir(n))]


@pytest.fixture(scope="module")
def armed(cluster: SeaweedCluster) -> ClusterArmed:
    assert cluster.endpoint is not None
    store = ObjectStore(cluster.endpoint)
    until = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    evidence = []
    for n in range(2):
        key = f"clips/B001/side-{secrets.token_hex(4)}.mp4"
        body = b"CLIP-EVIDENCE-" + secrets.token_bytes(4096 + n)
        stored = store.put_small(key, body, "video/mp4", locked_until=until)
        evidence.append(side.Locked(stored.key, stored.version_id, body, until))
    manifest = b'{"manifest": "MANIFEST-EVIDENCE", "nonce": "' + secrets.token_hex(8).encode() + b'"}'
    stored = store.put_small(evidence[0].key + ".manifest.json", manifest, "application/json", locked_until=until)
    evidence.append(side.Locked(stored.key, stored.version_id, manifest, until))
    return ClusterArmed(cluster, store, evidence)


def test_every_port_but_s3_refuses_without_the_store_certificate(armed: ClusterArmed, tmp_path: Path) -> None:
    as_armed = cast(side.Armed, armed)
    ports = armed.side_ports()
    # 3 masters, 3 volume servers, the filer: http and grpc each; the gateway's grpc.
    assert len(ports) >= 15, ports
    foreign = probe.foreign_client_certificate(tmp_path)
    answered = []
    for port in sorted(ports):
        for name, tls in (
            ("plaintext", None),
            ("tls, no client certificate", probe.client_tls()),
            ("tls, foreign client certificate", probe.client_tls(cert=foreign)),
        ):
            if probe.answers_h2(probe.grpc_answer(port, tls)):
                answered.append(f"{port} over {name}")
    assert answered == []
    fids = armed.file_ids()
    assert len(fids) >= 3, fids
    outcome = side.Outcome([], [], [])
    markers = side._markers(as_armed)
    for port in sorted(ports):
        for scheme in ("http", "https"):
            for method, path, kw in side._attack_paths(as_armed, fids[:6]):
                path = path.replace(f"/buckets/{side.BUCKET}", f"/buckets/{BUCKET}")
                side._send(method, f"{scheme}://127.0.0.1:{port}{path}", outcome, markers, **kw)
    assert outcome.leaked == [] and outcome.tokens == [] and outcome.answered == []
    # The control: the store's own certificate does open the gRPC ports.
    own = (armed.cluster.tls_dir / "client.crt", armed.cluster.tls_dir / "client.key")
    for name in ("master0", "volume0", "filer"):
        port = armed.cluster.ports[f"{name}.grpc"]
        assert probe.answers_h2(probe.grpc_answer(port, probe.client_tls(cert=own))), name
    side._assert_evidence_intact(as_armed)


# -- faults ----------------------------------------------------------------------------------------


def test_volume_server_killed_during_upload_and_replay(archive_rig: ArchiveRig, cluster: SeaweedCluster) -> None:
    store = archive_rig.store
    before = archive_rig.archive(secrets.token_bytes(6 * 1024 * 1024))
    media = secrets.token_bytes(16 * 1024 * 1024)  # four parts
    victim = "volume1"
    killer = threading.Timer(0.3, cluster.kill, args=(victim,))
    killer.start()
    try:
        clip_id = archive_rig.archive(media)
    finally:
        killer.join()
    assert not cluster.nodes[victim].running()
    key, version = _locked_version(archive_rig, clip_id)
    assert store.sha256_hex(key, version) == (hashlib.sha256(media).hexdigest(), len(media))
    _assert_undeletable(store, key, version)
    # Replay while a second server dies: each needle has a copy on a rack still up.
    cluster.restart(victim)
    old_key, old_version = _locked_version(archive_rig, before)
    read = store.read_range(key, version, 1000, None, chunk=1024 * 1024)
    got = bytearray(next(read.body))
    cluster.kill("volume2")
    for block in read.body:
        got += block
    assert bytes(got) == media[1000:]
    assert store.sha256_hex(old_key, old_version)[1] == 6 * 1024 * 1024
    assert store.read_small(key, version, len(media))[:4096] == media[:4096]
    _assert_undeletable(store, old_key, old_version)
    cluster.restart("volume2")


def test_filer_restart_keeps_every_object_and_lock(archive_rig: ArchiveRig, cluster: SeaweedCluster) -> None:
    store = archive_rig.store
    clips = [archive_rig.archive(secrets.token_bytes(2048 + n)) for n in range(3)]
    versions = {(v.key, v.version_id) for v in store.list_versions("clips/")}
    heads = {kv: store.head(*kv) for kv in versions}
    cluster.kill("filer", signal.SIGKILL)
    cluster.restart("filer")
    assert {(v.key, v.version_id) for v in store.list_versions("clips/")} == versions
    for (key, version), info in heads.items():
        after = store.head(key, version)
        assert (after.size, after.lock_mode, after.retain_until) == (info.size, info.lock_mode, info.retain_until)
    for clip_id in clips:
        key, version = _locked_version(archive_rig, clip_id)
        _assert_undeletable(store, key, version)
    with pytest.raises(ClientError):
        store._s3.delete_bucket(Bucket=BUCKET)
