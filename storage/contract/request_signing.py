"""HMAC-SHA256 request signing between a branch and the center.

The signature covers method, path with query, timestamp, nonce and the body's SHA-256, so a request
cannot be altered, replayed (nonce) or kept for later (timestamp window). A branch whose clock is
off learns the center's time from the `X-DR-Center-Time` header and signs with the corrected time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from storage.ascii_numbers import whole_number

HEADER_BRANCH = "X-DR-Branch"
HEADER_TIMESTAMP = "X-DR-Timestamp"
HEADER_NONCE = "X-DR-Nonce"
HEADER_SIGNATURE = "X-DR-Signature"
HEADER_CENTER_TIME = "X-DR-Center-Time"


@dataclass(frozen=True)
class SignedHeaders:
    branch_code: str
    timestamp: int
    nonce: str
    signature: str

    def as_dict(self) -> dict[str, str]:
        return {
            HEADER_BRANCH: self.branch_code,
            HEADER_TIMESTAMP: str(self.timestamp),
            HEADER_NONCE: self.nonce,
            HEADER_SIGNATURE: self.signature,
        }


def parse_timestamp(text: str) -> int | None:
    """The X-DR-Timestamp header's seconds since the epoch: ASCII digits only, else None."""
    return whole_number(text, max_digits=12)


def string_to_sign(method: str, path_with_query: str, timestamp: int, nonce: str, body: bytes) -> bytes:
    return "\n".join([method.upper(), path_with_query, str(timestamp), nonce, hashlib.sha256(body).hexdigest()]).encode(
        "utf-8"
    )


def compute_signature(secret: str, method: str, path_with_query: str, timestamp: int, nonce: str, body: bytes) -> str:
    return hmac.new(
        secret.encode("utf-8"), string_to_sign(method, path_with_query, timestamp, nonce, body), hashlib.sha256
    ).hexdigest()


def sign_request(
    branch_code: str, secret: str, method: str, path_with_query: str, body: bytes, timestamp: int
) -> SignedHeaders:
    nonce = secrets.token_hex(16)
    return SignedHeaders(
        branch_code, timestamp, nonce, compute_signature(secret, method, path_with_query, timestamp, nonce, body)
    )


def signature_matches(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected, given)
