"""Test fixtures seed many accounts with the same few passwords: each is hashed once per test run,
at the product's real cost, instead of once per account per test."""

from __future__ import annotations

from functools import cache

from storage.contract.passwords import hash_password


@cache
def seeded_hash(password: str) -> str:
    return hash_password(password)
