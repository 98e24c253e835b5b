"""Where the evidence archive lives and how to sign in to it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class S3Endpoint:
    url: str
    access_key: str
    secret_key: str
    bucket: str
    region: str = "us-east-1"

    def __repr__(self) -> str:  # never print the secret in logs or tracebacks
        return f"S3Endpoint(url={self.url!r}, bucket={self.bucket!r}, access_key={self.access_key!r})"
