"""Password hashes: OWASP-strength scrypt, older hashes still accepted and marked for upgrade, hostile ones refused."""

from __future__ import annotations

import base64
import hashlib

import pytest

from storage.contract.passwords import UNKNOWN_ACCOUNT_HASH, check_password, hash_password, needs_rehash


def _old_style(password: str) -> str:
    salt = b"0123456789abcdef"
    dk = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return f"scrypt${2**14}$8$1${base64.b64encode(salt).decode()}${base64.b64encode(dk).decode()}"


def test_new_hashes_meet_the_owasp_scrypt_floor() -> None:
    stored = hash_password("a long password")
    scheme, n, r, p, _, _ = stored.split("$")
    # OWASP: N=2^17, r=8, p=1, or an equal-strength trade of memory for time such as N=2^14, r=8, p=5.
    assert scheme == "scrypt" and int(n) * int(r) * int(p) >= 2**14 * 8 * 5
    assert check_password("a long password", stored) and not check_password("a long passworD", stored)
    assert not needs_rehash(stored)


def test_a_hash_from_before_still_signs_in_and_asks_to_be_replaced() -> None:
    old = _old_style("a long password")
    assert check_password("a long password", old) and needs_rehash(old)


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "bcrypt$x",
        f"scrypt${2**24}$8$1$AAAA$AAAA",  # would take gigabytes and minutes
        "scrypt$16384$8$99$AAAA$AAAA",
        "scrypt$1²384$8$1$AAAA$AAAA",  # a Unicode digit is not a number here
        "scrypt$16384$8$1$not base64!$AAAA",
    ],
)
def test_a_malformed_or_hostile_hash_is_refused_quickly(stored: str) -> None:
    assert check_password("anything at all", stored) is False and needs_rehash(stored)


def test_unknown_account_hash_is_a_real_hash_that_matches_nothing_typed() -> None:
    assert not needs_rehash(UNKNOWN_ACCOUNT_HASH)
    assert not check_password("", UNKNOWN_ACCOUNT_HASH) and not check_password("password", UNKNOWN_ACCOUNT_HASH)
