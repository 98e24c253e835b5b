"""What `weed mini` reads at start, all of it written by the launcher: security.toml (JWT keys, mutual
TLS, no UI), the other config files weed looks for, and an environment without the host's WEED_* overrides."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from storage.private_files import write_private
from storage.seaweed_tls import TlsFiles

# Every configuration file weed 4.x looks up at start (seen with strace: `-config_dir`, then the
# working directory, $HOME/.seaweedfs, /usr/local/etc/seaweedfs, /etc/seaweedfs; the first found
# wins). Each is written into the store's own config directory so that no host file is ever read.
_CONFIG_NAMES = ("security", "master", "volume", "filer", "credential", "admin", "notification")

_JWT_EXPIRES_S = 10

# Environment variables weed reads in place of its flags or config files; a host's setting must not
# change (or weaken) the embedded store.
_FOREIGN_ENV_PREFIXES = ("WEED_",)
_FOREIGN_ENV_NAMES = ("S3_BUCKET", "S3_TABLE_BUCKET", "S3_EXTERNAL_URL")


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


def child_environment(home: Path) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(_FOREIGN_ENV_PREFIXES) and k not in _FOREIGN_ENV_NAMES
    }
    env["HOME"] = str(home)
    return env


def strip_saved_secrets(options_file: Path) -> None:
    """`weed mini` saves its options in the data dir and reloads them; none of them may be a secret
    (an older launcher passed the admin password as a flag)."""
    if not options_file.exists():
        return
    lines = options_file.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [ln for ln in lines if "password" not in ln.split("=", 1)[0].lower()]
    if kept != lines:
        write_private(options_file, "".join(kept).encode("utf-8"))
