"""The SeaweedFS configuration of docker-compose.yml, made by the same code as the tested cluster's.

    python -m storage.seaweed_cluster compose-config configs/compose/seaweed

writes into that directory (mounted read-only at /etc/seaweedfs in every weed container):
- security.toml: JWT signing keys and mutual TLS on every gRPC port and every HTTP port but S3's;
- tls/: the store's private CA and one certificate per component, naming the compose services;
- filer.toml (leveldb2 in the filer's own volume) and the other files weed looks for, so that no
  file of the image is read;
- s3.json: the gateway's one identity; its keys go into .env as CENTER_S3_ACCESS_KEY / _SECRET_KEY.

Files are 0600: give them to the uid the weed containers run as (`chown -R`), and keep the
directory out of version control. Running it again keeps the certificates and the S3 keys and
makes new JWT keys.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from storage.private_files import private_dir, write_private
from storage.seaweed import Credentials, load_or_create_credentials
from storage.seaweed_config import SecurityKeys, other_config_files, security_toml
from storage.seaweed_tls import TlsFiles, ensure_tls_material

# Where the directory is mounted inside the weed containers, and the services' host names.
CONTAINER_DIR = PurePosixPath("/etc/seaweedfs")
MASTERS = ("seaweed-master0", "seaweed-master1", "seaweed-master2")
VOLUMES = ("seaweed-volume0", "seaweed-volume1", "seaweed-volume2")
SERVICES = (*MASTERS, *VOLUMES, "seaweed-filer", "seaweed-s3")


def _in_container(files: TlsFiles, host_dir: Path) -> TlsFiles:
    def moved(path: Path) -> Path:
        return Path(str(CONTAINER_DIR / path.relative_to(host_dir).as_posix()))

    return TlsFiles(ca=moved(files.ca), certs={c: (moved(a), moved(b)) for c, (a, b) in files.certs.items()})


def write_compose_config(directory: Path) -> Credentials:
    """Writes the directory's files (see the module's doc); returns the S3 gateway's credentials."""
    private_dir(directory)
    tls = ensure_tls_material(directory / "tls", dns_names=SERVICES)
    config = security_toml(SecurityKeys.generate(), _in_container(tls, directory))
    write_private(directory / "security.toml", config.encode("utf-8"))
    for name, text in other_config_files(Path("/data")).items():
        write_private(directory / f"{name}.toml", text.encode("utf-8"))
    creds = load_or_create_credentials(directory)
    from storage.seaweed_cluster import identities_json

    write_private(directory / "s3.json", identities_json(creds))
    return creds
