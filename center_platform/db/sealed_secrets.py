"""Secrets the center must read back (each branch's API secret, for HMAC) kept sealed in the database.

AES-GCM under the center's data key (CENTER_DATA_KEY, or a key generated once into the data directory),
bound to what the value is for, so that a copy of the database alone yields no branch's secret and a
sealed value cannot be moved to another row. A value without the prefix is from before sealing: it is
read as it is and sealed at the next start (`reseal_branch_secrets`).
"""

from __future__ import annotations

import base64
import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from center_platform.db.models import Branch

PREFIX = "sealed:v1:"
INFO_KEY = "data_key"


class SealedSecretError(RuntimeError):
    """A sealed value that this center's data key does not open."""


def _aead(key_material: bytes) -> AESGCM:
    return AESGCM(hashlib.sha256(b"dual-recording data key\0" + key_material).digest())


def seal(key_material: bytes, plain: str, purpose: str) -> str:
    nonce = os.urandom(12)
    sealed = _aead(key_material).encrypt(nonce, plain.encode("utf-8"), purpose.encode("utf-8"))
    return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")


def unseal(key_material: bytes, stored: str, purpose: str) -> str:
    if not stored.startswith(PREFIX):
        return stored  # from before sealing; sealed at the next start
    raw = base64.urlsafe_b64decode(stored[len(PREFIX) :])
    try:
        return _aead(key_material).decrypt(raw[:12], raw[12:], purpose.encode("utf-8")).decode("utf-8")
    except InvalidTag as exc:
        raise SealedSecretError(
            f"a sealed {purpose} does not open with this center's data key (CENTER_DATA_KEY changed?)"
        ) from exc


def session_key(db: Session) -> bytes:
    key = db.info.get(INFO_KEY)
    if not isinstance(key, bytes):
        raise SealedSecretError("this database session was opened without the center's data key")
    return key


def branch_purpose(code: str) -> str:
    return f"branch api secret {code}"


def seal_branch_secret(db: Session, code: str, plain: str) -> str:
    return seal(session_key(db), plain, branch_purpose(code))


def branch_secret(db: Session, branch: Branch) -> str:
    return unseal(session_key(db), branch.api_secret, branch_purpose(branch.code))


def reseal_branch_secrets(sessions: sessionmaker[Session]) -> int:
    """Seals every branch secret still stored in the clear; returns how many."""
    with sessions() as db:
        legacy = [b for b in db.execute(select(Branch)).scalars() if not b.api_secret.startswith(PREFIX)]
        for b in legacy:
            b.api_secret = seal_branch_secret(db, b.code, b.api_secret)
        db.commit()
        return len(legacy)
