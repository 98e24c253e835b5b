"""HMAC-SHA256 signatures on the center's replies to a branch, with the branch's API secret.

The branch deletes its only copy of a clip once the center says *verified*, so it must know the answer
is the center's: a reply is signed over a domain tag, the request's method and path with query, the
reply's status, the center's timestamp, the nonce of the request it answers and the SHA-256 of its
body. Bound to the nonce (random per request), a genuine reply cannot be replayed to another request;
the tag keeps a reply's signature from ever standing for a request's (the same secret signs both).
A reply without a valid signature is to be treated like no reply at all.

A signed reply is also a receipt: `ReplyReceipt` keeps what was signed, so the branch can store the
center's verification of a clip beside the clip and anyone holding the secret can check it later.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass

HEADER_REPLY_TIMESTAMP = "X-DR-Center-Timestamp"
HEADER_REPLY_SIGNATURE = "X-DR-Center-Signature"
_TAG = "DR-CENTER-REPLY-1"


class ReplyNotSigned(ValueError):
    """The reply carries no signature, or one that is not the center's for this request."""


@dataclass(frozen=True)
class ReplyReceipt:
    method: str
    path: str
    status: int
    timestamp: int
    request_nonce: str
    body: str  # the reply's body as sent (UTF-8 JSON)
    signature: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ReplyReceipt:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("a reply receipt is a JSON object")
        return cls(
            method=str(data["method"]),
            path=str(data["path"]),
            status=int(data["status"]),
            timestamp=int(data["timestamp"]),
            request_nonce=str(data["request_nonce"]),
            body=str(data["body"]),
            signature=str(data["signature"]),
        )

    def matches(self, secret: str) -> bool:
        expected = reply_signature(
            secret, self.method, self.path, self.status, self.timestamp, self.request_nonce, self.body.encode("utf-8")
        )
        return hmac.compare_digest(expected, self.signature)


def reply_string_to_sign(
    method: str, path_with_query: str, status: int, timestamp: int, request_nonce: str, body: bytes
) -> bytes:
    parts = [_TAG, method.upper(), path_with_query, str(status), str(timestamp), request_nonce]
    return "\n".join([*parts, hashlib.sha256(body).hexdigest()]).encode("utf-8")


def reply_signature(
    secret: str, method: str, path_with_query: str, status: int, timestamp: int, request_nonce: str, body: bytes
) -> str:
    text = reply_string_to_sign(method, path_with_query, status, timestamp, request_nonce, body)
    return hmac.new(secret.encode("utf-8"), text, hashlib.sha256).hexdigest()


def sign_reply(
    secret: str, method: str, path_with_query: str, status: int, body: bytes, request_nonce: str, timestamp: int
) -> dict[str, str]:
    """The headers the center adds to its reply."""
    return {
        HEADER_REPLY_TIMESTAMP: str(timestamp),
        HEADER_REPLY_SIGNATURE: reply_signature(
            secret, method, path_with_query, status, timestamp, request_nonce, body
        ),
    }


def verify_reply(
    secret: str,
    method: str,
    path_with_query: str,
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    request_nonce: str,
) -> ReplyReceipt:
    """The receipt of a reply the center signed for this very request; ReplyNotSigned otherwise."""
    ts_text = headers.get(HEADER_REPLY_TIMESTAMP, "")
    given = headers.get(HEADER_REPLY_SIGNATURE, "")
    if not given or not ts_text:
        raise ReplyNotSigned("the reply carries no center signature")
    if not (ts_text.isascii() and ts_text.isdigit() and len(ts_text) <= 12):
        raise ReplyNotSigned("the reply's signature timestamp is malformed")
    timestamp = int(ts_text)
    expected = reply_signature(secret, method, path_with_query, status, timestamp, request_nonce, body)
    if not hmac.compare_digest(expected, given):
        raise ReplyNotSigned("the reply's signature is not the center's for this request")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ReplyNotSigned("the signed reply is not UTF-8") from exc
    return ReplyReceipt(method.upper(), path_with_query, status, timestamp, request_nonce, text, given)
