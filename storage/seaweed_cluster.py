"""A SeaweedFS cluster on one host from the same `weed` binary: the production shape, for tests and demos.

Masters (1, or 3 in raft), volume servers on separate data dirs and racks with replication (`010`:
every needle on two racks), a filer with its own persistent leveldb2 store, and the S3 gateway with
the credentials the embedded launcher uses. Security is the embedded store's (storage/seaweed_config.py,
storage/seaweed_tls.py): one security.toml for every process with JWT signing keys and mutual TLS on
every gRPC port and every HTTP port but S3's, certificates of the store's private CA kept 0600.

Each process runs in a session of its own, so that a test can SIGKILL one volume server or restart the
filer while the rest keeps serving (`kill`, `restart`); ports stay the same across a restart.

    python -m storage.seaweed_cluster run DIR [--masters 3]     a cluster until Ctrl-C
    python -m storage.seaweed_cluster compose-config DIR        security.toml and certificates for docker compose
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from storage.endpoint import S3Endpoint
from storage.private_files import private_dir, tighten_tree, write_private
from storage.seaweed import (
    Credentials,
    SeaweedError,
    _free_ports,
    _port_is_free,
    find_weed_binary,
    load_or_create_credentials,
)
from storage.seaweed_config import SecurityKeys, child_environment, other_config_files, security_toml
from storage.seaweed_tls import TlsFiles, ensure_tls_material


@dataclass(frozen=True)
class ClusterSettings:
    data_dir: Path
    bucket: str
    masters: int = 1  # 1, or 3 for raft
    volume_servers: int = 3
    replication: str = "010"  # two copies on two racks; each volume server is a rack of its own
    host: str = "127.0.0.1"
    s3_port: int = 0  # 0: pick a free port
    volume_size_limit_mb: int = 256
    max_volumes: int = 30
    start_timeout_s: float = 120.0
    weed_binary: Path | None = None


def identities_json(creds: Credentials) -> bytes:
    """The S3 gateway's one identity, as the embedded launcher writes it."""
    config = {
        "identities": [
            {
                "name": "evidence-admin",
                "credentials": [{"accessKey": creds.access_key, "secretKey": creds.secret_key}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    return json.dumps(config).encode("utf-8")


@dataclass
class Node:
    """One weed process of the cluster."""

    name: str  # master0, volume1, filer, s3
    args: list[str]
    log: Path
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    stopped_on_purpose: bool = False

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class SeaweedCluster:
    """Start with start() (or as a context manager), stop with stop(); kill()/restart() one node."""

    def __init__(self, settings: ClusterSettings) -> None:
        if settings.masters not in (1, 3):
            raise SeaweedError("a cluster runs 1 master, or 3 for raft")
        self.settings = settings
        self.nodes: dict[str, Node] = {}
        self.ports: dict[str, int] = {}  # "master0.http", "volume2.grpc", "filer.http", "s3.http", ...
        self.endpoint: S3Endpoint | None = None

    def __enter__(self) -> S3Endpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def config_dir(self) -> Path:
        return self.settings.data_dir / "config"

    @property
    def tls_dir(self) -> Path:
        return self.settings.data_dir / "tls"

    @property
    def tls(self) -> TlsFiles:
        return ensure_tls_material(self.tls_dir)

    def node_dir(self, name: str) -> Path:
        return self.settings.data_dir / name

    def names(self, kind: str) -> list[str]:
        return [n for n in self.nodes if n.startswith(kind)]

    def pids(self) -> list[int]:
        return [n.pid for n in self.nodes.values() if n.pid is not None and n.running()]

    # -- layout ------------------------------------------------------------------------------------

    def _allocate_ports(self) -> dict[str, int]:
        s = self.settings
        if s.s3_port and not _port_is_free(s.host, s.s3_port):
            raise SeaweedError(f"S3 port {s.s3_port} on {s.host} is already taken")
        components = [f"master{i}" for i in range(s.masters)]
        components += [f"volume{i}" for i in range(s.volume_servers)]
        components += ["filer", "s3"]
        names = [f"{c}.{kind}" for c in components for kind in ("http", "grpc")]
        ports = dict(zip(names, _free_ports(s.host, len(names))))
        if s.s3_port:
            ports["s3.http"] = s.s3_port
        return ports

    def _address(self, component: str) -> str:
        """host:http.grpc, weed's notation for a server whose gRPC port is not http + 10000."""
        return f"{self.settings.host}:{self.ports[component + '.http']}.{self.ports[component + '.grpc']}"

    def _write_config(self, creds: Credentials) -> Path:
        config = private_dir(self.config_dir)
        write_private(config / "security.toml", security_toml(SecurityKeys.generate(), self.tls).encode("utf-8"))
        # filer.toml: leveldb2 in the filer's own directory, persistent across restarts.
        for name, text in other_config_files(self.node_dir("filer")).items():
            write_private(config / f"{name}.toml", text.encode("utf-8"))
        write_private(self.settings.data_dir / "s3-identities.json", identities_json(creds))
        return config

    def _commands(self) -> dict[str, list[str]]:
        s = self.settings
        weed = str(find_weed_binary(s.weed_binary))
        head = [weed, f"-config_dir={self.config_dir}"]
        masters = ",".join(self._address(f"master{i}") for i in range(s.masters))
        peers = masters if s.masters > 1 else "none"
        bind = [f"-ip={s.host}", f"-ip.bind={s.host}"]
        run = private_dir(s.data_dir / "run")
        cmds: dict[str, list[str]] = {}
        for i in range(s.masters):
            name = f"master{i}"
            cmds[name] = head + [
                "master",
                *bind,
                f"-port={self.ports[name + '.http']}",
                f"-port.grpc={self.ports[name + '.grpc']}",
                f"-mdir={private_dir(self.node_dir(name))}",
                f"-peers={peers}",
                f"-defaultReplication={s.replication}",
                f"-volumeSizeLimitMB={s.volume_size_limit_mb}",
                "-telemetry=false",
            ]
        for i in range(s.volume_servers):
            name = f"volume{i}"
            cmds[name] = head + [
                "volume",
                *bind,
                f"-port={self.ports[name + '.http']}",
                f"-port.grpc={self.ports[name + '.grpc']}",
                f"-dir={private_dir(self.node_dir(name))}",
                f"-master={masters}",
                "-dataCenter=dc1",
                f"-rack=rack{i}",
                f"-max={s.max_volumes}",
                "-preStopSeconds=1",
            ]
        cmds["filer"] = head + [
            "filer",
            *bind,
            f"-port={self.ports['filer.http']}",
            f"-port.grpc={self.ports['filer.grpc']}",
            f"-master={masters}",
            f"-defaultStoreDir={private_dir(self.node_dir('filer'))}",
            f"-localSocket={run / 'filer.sock'}",
            "-disableDirListing",
            "-ui.deleteDir=false",
            "-exposeDirectoryData=false",
        ]
        cmds["s3"] = head + [
            "s3",
            f"-ip.bind={s.host}",
            f"-port={self.ports['s3.http']}",
            f"-port.grpc={self.ports['s3.grpc']}",
            f"-filer={self._address('filer')}",
            f"-config={s.data_dir / 's3-identities.json'}",
            f"-localSocket={run / 's3.sock'}",
            "-port.iceberg=0",
            "-port.lance=0",
            # Evidence buckets must never be removed with their content, nor created by accident.
            "-allowDeleteBucketNotEmpty=false",
            "-autoCreateBucket=false",
        ]
        return cmds

    # -- processes ---------------------------------------------------------------------------------

    def _spawn(self, node: Node) -> None:
        log_fd = os.open(node.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            node.proc = subprocess.Popen(
                node.args,
                stdout=log_fd,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=self.config_dir,
                env=child_environment(self.config_dir),
                umask=0o077,
            )
        finally:
            os.close(log_fd)

    def start(self) -> S3Endpoint:
        s = self.settings
        if self.endpoint is not None and all(n.running() for n in self.nodes.values()):
            return self.endpoint
        private_dir(s.data_dir)
        tighten_tree(s.data_dir)
        creds = load_or_create_credentials(s.data_dir)
        self._write_config(creds)
        self.ports = self._allocate_ports()
        logs = private_dir(s.data_dir / "logs")
        self.nodes = {name: Node(name, cmd, logs / f"{name}.log") for name, cmd in self._commands().items()}
        self.endpoint = S3Endpoint(
            url=f"http://{s.host}:{self.ports['s3.http']}",
            access_key=creds.access_key,
            secret_key=creds.secret_key,
            bucket=s.bucket,
        )
        try:
            for node in self.nodes.values():
                self._spawn(node)
            self.wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self.endpoint

    def master_status(self) -> dict[str, object]:
        """The leader's view of the topology, read with the store's own client certificate."""
        tls = self.tls
        client = tls.certs["client"]
        last: Exception | None = None
        for name in self.names("master"):
            if not self.nodes[name].running():
                continue
            try:
                resp = requests.get(
                    f"https://{self.settings.host}:{self.ports[name + '.http']}/dir/status",
                    cert=(str(client[0]), str(client[1])),
                    verify=str(tls.ca),
                    timeout=5,
                )
                if resp.status_code == 200:
                    return dict(resp.json())
            except (requests.RequestException, ValueError) as exc:
                last = exc
        raise SeaweedError(f"no master answered /dir/status ({last})")

    def live_volume_servers(self) -> int:
        try:
            topology = self.master_status().get("Topology", {})
        except SeaweedError:
            return 0
        assert isinstance(topology, dict)
        count = 0
        for dc in topology.get("DataCenters") or []:
            for rack in dc.get("Racks") or []:
                count += len(rack.get("DataNodes") or [])
        return count

    def wait_until_ready(self, volume_servers: int | None = None) -> None:
        from storage.object_store import ObjectStore

        assert self.endpoint is not None
        want = self.settings.volume_servers if volume_servers is None else volume_servers
        store = ObjectStore(self.endpoint)
        deadline = time.monotonic() + self.settings.start_timeout_s
        problem = "no answer yet"
        while time.monotonic() < deadline:
            for node in self.nodes.values():
                if node.proc is not None and node.proc.poll() is not None and not node.stopped_on_purpose:
                    raise SeaweedError(f"{node.name} exited with {node.proc.returncode}:\n{self.log_tail(node.name)}")
            live = self.live_volume_servers()
            ok, problem = store.ping()
            if ok and live >= want:
                return
            if ok:
                problem = f"{live} of {want} volume servers registered"
            time.sleep(0.3)
        raise SeaweedError(f"cluster not ready within {self.settings.start_timeout_s:.0f} s: {problem}")

    def log_tail(self, name: str, lines: int = 15) -> str:
        log = self.nodes[name].log
        if not log.exists():
            return "(no log)"
        return "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Stops one node the hard way (kill -9 by default), as a crash or a pulled cable would."""
        node = self.nodes[name]
        if node.proc is None:
            return
        node.stopped_on_purpose = True
        if node.proc.poll() is None:
            os.killpg(node.proc.pid, sig)
        node.proc.wait(timeout=30)

    def restart(self, name: str, wait: bool = True) -> None:
        """Starts a stopped (or killed) node again on the same ports and data dir."""
        node = self.nodes[name]
        if node.running():
            self.kill(name, signal.SIGTERM)
        self._spawn(node)
        node.stopped_on_purpose = False
        if wait:
            self.wait_until_ready(volume_servers=sum(1 for n in self.names("volume") if self.nodes[n].running()))

    def stop(self, timeout_s: float = 15.0) -> None:
        # The gateway first, the masters last: nothing writes to a half-stopped cluster, and no
        # process waits for a master that is already gone.
        # The gateway and the filer wait for idle connections after a SIGTERM (the filer's leveldb2
        # store has its journal on disk by then): they get a short grace.
        for kind in ("s3", "filer", "volume", "master"):
            grace = 3.0 if kind in ("s3", "filer") else timeout_s
            group = [self.nodes[n] for n in self.names(kind)]
            for node in group:
                if node.proc is not None and node.proc.poll() is None:
                    node.stopped_on_purpose = True
                    os.killpg(node.proc.pid, signal.SIGTERM)
            for node in group:
                if node.proc is None:
                    continue
                try:
                    node.proc.wait(timeout=grace)
                except subprocess.TimeoutExpired:
                    os.killpg(node.proc.pid, signal.SIGKILL)
                    node.proc.wait(timeout=timeout_s)
                node.proc = None


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m storage.seaweed_cluster", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="start a cluster on 127.0.0.1 and keep it up until Ctrl-C")
    run.add_argument("dir", type=Path)
    run.add_argument("--bucket", default="evidence")
    run.add_argument("--masters", type=int, choices=(1, 3), default=3)
    run.add_argument("--s3-port", type=int, default=0)
    compose = sub.add_parser("compose-config", help="security.toml, certificates and s3.json for docker-compose.yml")
    compose.add_argument("dir", type=Path)
    args = parser.parse_args(argv)
    if args.command == "compose-config":
        from storage.seaweed_compose import write_compose_config

        creds = write_compose_config(args.dir)
        print(f"wrote {args.dir}/security.toml, tls/, filer.toml and s3.json; put into .env:")
        print(f"CENTER_S3_ACCESS_KEY={creds.access_key}")
        print(f"CENTER_S3_SECRET_KEY={creds.secret_key}")
        return 0
    cluster = SeaweedCluster(
        ClusterSettings(data_dir=args.dir, bucket=args.bucket, masters=args.masters, s3_port=args.s3_port)
    )
    endpoint = cluster.start()
    try:
        from storage.object_store import ObjectStore

        ObjectStore(endpoint).ensure_evidence_bucket()
        print(f"S3 {endpoint.url} bucket {endpoint.bucket}; credentials in {args.dir / 'credentials.json'}", flush=True)
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
