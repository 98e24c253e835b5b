"""Password hashing (scrypt, standard library). Staff hashes are synced to branches in this format."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

# OWASP's scrypt floor (N=2^17, r=8, p=1) in its equal-strength form with 16 MiB of memory per hash
# instead of 128: what a branch PC and a busy center can afford on every sign-in.
_N, _R, _P = 2**14, 8, 5
_MAXMEM = 64 * 1024 * 1024


def hash_password(password: str) -> str:
    if len(password) < 8:
        raise ValueError("a password needs at least 8 characters")
    salt = secrets.token_bytes(16)
    dk = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=_N, r=_R, p=_P, dklen=32, maxmem=_MAXMEM)
    return f"scrypt${_N}${_R}${_P}${base64.b64encode(salt).decode()}${base64.b64encode(dk).decode()}"


def _params(stored: str) -> tuple[int, int, int, bytes, bytes] | None:
    try:
        scheme, n, r, p, salt_b64, dk_b64 = stored.split("$")
        if scheme != "scrypt" or not (n.isascii() and r.isascii() and p.isascii()):
            return None
        params = int(n), int(r), int(p)
        salt, dk = base64.b64decode(salt_b64, validate=True), base64.b64decode(dk_b64, validate=True)
    except ValueError:
        return None
    # A stored hash asking for more than any we make would let whoever wrote it stall every sign-in.
    if not (
        2 <= params[0] <= _N and params[0] & (params[0] - 1) == 0 and 1 <= params[1] <= _R and 1 <= params[2] <= _P
    ):
        return None
    return (*params, salt, dk)


def check_password(password: str, stored: str) -> bool:
    parsed = _params(stored)
    if parsed is None:
        return False
    n, r, p, salt, expected = parsed
    dk = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=len(expected), maxmem=_MAXMEM)
    return hmac.compare_digest(dk, expected)


def needs_rehash(stored: str) -> bool:
    """True for a hash made with weaker parameters than today's: replace it at the next good sign-in."""
    parsed = _params(stored)
    return parsed is None or parsed[:3] != (_N, _R, _P)


# Checked against when the account does not exist, so that a wrong user name costs as long as a
# wrong password and the answer's timing does not tell which accounts exist.
UNKNOWN_ACCOUNT_HASH = hash_password("no account has this password")
