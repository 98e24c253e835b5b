"""The embedded store's private CA and the certificates of its components (gRPC and HTTPS mutual TLS).

Made at the first start and kept 0600 in the data dir; every start checks the set and reuses it,
reissuing all of it when anything is missing, foreign or about to expire. The CA's key is never kept.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from storage.private_files import private_dir, write_private

# Components that speak gRPC inside `weed mini`, each with its own certificate from the store's CA;
# `client` is what a component presents when it dials another.
_TLS_COMPONENTS = ("master", "volume", "filer", "s3", "admin", "worker", "msg_broker", "msg_agent", "mq", "client")
_CERT_VALID_DAYS = 3650
_CERT_RENEW_BEFORE_DAYS = 30


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    certs: dict[str, tuple[Path, Path]]  # component -> (certificate, private key)


def tls_files(tls_dir: Path) -> TlsFiles:
    return TlsFiles(
        ca=tls_dir / "ca.crt",
        certs={c: (tls_dir / f"{c}.crt", tls_dir / f"{c}.key") for c in _TLS_COMPONENTS},
    )


def _tls_is_current(files: TlsFiles, dns_names: tuple[str, ...] = ()) -> bool:
    """Every certificate present, issued by the CA beside it, matching its key, naming every host it
    must and not about to expire."""
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
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            if not set(dns_names) <= set(san.get_values_for_type(x509.DNSName)):
                return False
    except (OSError, ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
        return False
    return True


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _issue_tls(files: TlsFiles, dns_names: tuple[str, ...] = ()) -> None:
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
                    [
                        x509.DNSName("localhost"),
                        *(x509.DNSName(name) for name in dns_names),
                        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    ]
                ),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        write_private(key_path, _pem_key(key))
        write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    # The CA last: a set cut off half-way is never taken for current.
    write_private(files.ca, ca_cert.public_bytes(serialization.Encoding.PEM))


def ensure_tls_material(tls_dir: Path, dns_names: tuple[str, ...] = ()) -> TlsFiles:
    """The store's gRPC certificates: made at the first start, reused at every later one.
    `dns_names`: host names every certificate carries besides localhost (a cluster's service names)."""
    private_dir(tls_dir)
    files = tls_files(tls_dir)
    if not _tls_is_current(files, dns_names):
        _issue_tls(files, dns_names)
    return files
