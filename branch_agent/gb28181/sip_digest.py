"""HTTP digest authentication for SIP REGISTER (RFC 2617, RFC 7616 with MD5 as GB/T 28181 uses).

Nonces are random and remembered while they are valid: each is accepted only during its lifetime
(after it, ``stale=true``, which makes a camera retry with the same password instead of reporting
a wrong one), and only once per request count: with qop its ``nc`` must grow from one REGISTER to
the next, without qop it serves a single REGISTER. A captured REGISTER with its Authorization is
therefore worth nothing to whoever replays it.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


class DigestError(ValueError):
    """An Authorization header that cannot be read as digest credentials."""


@dataclass(frozen=True)
class DigestChallenge:
    realm: str
    nonce: str
    qop: str | None = "auth"
    algorithm: str = "MD5"
    opaque: str | None = None
    stale: bool = False

    def header_value(self) -> str:
        parts = [f'Digest realm="{self.realm}"', f'nonce="{self.nonce}"']
        if self.opaque is not None:
            parts.append(f'opaque="{self.opaque}"')
        parts.append(f"algorithm={self.algorithm}")
        if self.qop:
            parts.append(f'qop="{self.qop}"')
        if self.stale:
            parts.append("stale=true")
        return ", ".join(parts)


@dataclass(frozen=True)
class DigestCredentials:
    """What a camera sent in its Authorization header."""

    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    algorithm: str = "MD5"
    qop: str | None = None
    nc: str | None = None
    cnonce: str | None = None
    opaque: str | None = None


_PARAM = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)\s*(?:,|$)')


def parse_auth_params(value: str) -> tuple[str, dict[str, str]]:
    """``Digest k=v, k="v"`` → ("Digest", {k: v}); keys lower-cased, quotes removed."""
    scheme, _, rest = value.strip().partition(" ")
    params: dict[str, str] = {}
    pos = 0
    rest = rest.strip()
    while pos < len(rest):
        match = _PARAM.match(rest, pos)
        if not match or match.end() == pos:
            raise DigestError(f"cannot read auth parameter at {rest[pos : pos + 40]!r}")
        key, raw = match.group(1).lower(), match.group(2)
        if raw.startswith('"'):
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        params[key] = raw
        pos = match.end()
    return scheme, params


def parse_authorization(value: str) -> DigestCredentials:
    scheme = value.strip().partition(" ")[0]
    if scheme.lower() != "digest":
        raise DigestError(f"only Digest authentication is supported, got {scheme!r}")
    _, params = parse_auth_params(value)
    missing = [k for k in ("username", "realm", "nonce", "uri", "response") if k not in params]
    if missing:
        raise DigestError(f"Authorization lacks {', '.join(missing)}")
    qop = params.get("qop")
    if qop is not None and ("nc" not in params or "cnonce" not in params):
        raise DigestError("Authorization with qop must carry nc and cnonce")
    algorithm = params.get("algorithm", "MD5")
    if algorithm.upper() != "MD5":
        raise DigestError(f"only MD5 digest is supported, got algorithm={algorithm}")
    return DigestCredentials(
        username=params["username"],
        realm=params["realm"],
        nonce=params["nonce"],
        uri=params["uri"],
        response=params["response"].lower(),
        algorithm="MD5",
        qop=qop,
        nc=params.get("nc"),
        cnonce=params.get("cnonce"),
        opaque=params.get("opaque"),
    )


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def compute_response(
    *,
    username: str,
    password: str,
    realm: str,
    method: str,
    uri: str,
    nonce: str,
    qop: str | None = None,
    nc: str | None = None,
    cnonce: str | None = None,
) -> str:
    """The hex ``response`` value: RFC 2617 3.2.2.1 (qop=auth) or RFC 2069 (no qop)."""
    ha1 = _md5(f"{username}:{realm}:{password}")
    ha2 = _md5(f"{method}:{uri}")
    if qop:
        if qop != "auth":
            raise DigestError(f"only qop=auth is supported, got qop={qop}")
        if not nc or not cnonce:
            raise DigestError("qop=auth needs nc and cnonce")
        return _md5(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    return _md5(f"{ha1}:{nonce}:{ha2}")


def authorization_header(
    challenge: DigestChallenge,
    *,
    username: str,
    password: str,
    method: str,
    uri: str,
    nc: int = 1,
    cnonce: str | None = None,
) -> str:
    """Client side, for the device simulator and for tests that speak SIP themselves."""
    qop = "auth" if challenge.qop and "auth" in challenge.qop.split(",") else None
    nc_text = f"{nc:08x}" if qop else None
    cnonce = (cnonce or secrets.token_hex(8)) if qop else None
    response = compute_response(
        username=username,
        password=password,
        realm=challenge.realm,
        method=method,
        uri=uri,
        nonce=challenge.nonce,
        qop=qop,
        nc=nc_text,
        cnonce=cnonce,
    )
    parts = [
        f'Digest username="{username}"',
        f'realm="{challenge.realm}"',
        f'nonce="{challenge.nonce}"',
        f'uri="{uri}"',
        f'response="{response}"',
        "algorithm=MD5",
    ]
    if qop:
        parts += [f"qop={qop}", f"nc={nc_text}", f'cnonce="{cnonce}"']
    if challenge.opaque is not None:
        parts.append(f'opaque="{challenge.opaque}"')
    return ", ".join(parts)


class Verdict(enum.Enum):
    OK = "ok"
    # The nonce is ours but too old: re-challenge with stale=true, the password may be right.
    STALE = "stale"
    # Not a nonce we issued (or long forgotten): challenge again.
    UNKNOWN_NONCE = "unknown nonce"
    WRONG_REALM = "wrong realm"
    # The digest does not match the password: the camera has the wrong password.
    WRONG_PASSWORD = "wrong password"
    # Right digest, but this nonce (without qop) or this nc (with qop) was already used: a replay.
    REPLAYED = "replayed credentials"


_NC = re.compile(r"^[0-9a-fA-F]{8}$")


@dataclass
class _Issued:
    issued_at: float
    last_nc: int = 0  # the highest nc accepted (qop); without qop 1 once used


class NonceIssuer:
    """Issues random nonces and remembers them (at most ``max_nonces``, the oldest forgotten
    first) for twice their lifetime, so an expired one is still recognised as stale."""

    def __init__(
        self,
        realm: str,
        lifetime_s: float = 300.0,
        qop: str | None = "auth",
        clock: Callable[[], float] = time.monotonic,
        max_nonces: int = 10000,
    ) -> None:
        if lifetime_s <= 0:
            raise ValueError(f"nonce lifetime must be positive, got {lifetime_s}")
        self.realm = realm
        self.lifetime_s = lifetime_s
        self.qop = qop
        self.max_nonces = max_nonces
        self._clock = clock
        self._issued: OrderedDict[str, _Issued] = OrderedDict()

    @property
    def outstanding(self) -> int:
        return len(self._issued)

    def _forget_old(self, now: float) -> None:
        while self._issued:
            nonce, entry = next(iter(self._issued.items()))
            if now - entry.issued_at <= 2 * self.lifetime_s and len(self._issued) < self.max_nonces:
                break
            del self._issued[nonce]

    def challenge(self, stale: bool = False) -> DigestChallenge:
        now = self._clock()
        self._forget_old(now)
        nonce = secrets.token_hex(16)
        self._issued[nonce] = _Issued(now)
        return DigestChallenge(realm=self.realm, nonce=nonce, qop=self.qop, stale=stale)

    def nonce_state(self, nonce: str) -> Verdict:
        entry = self._issued.get(nonce)
        if entry is None:
            return Verdict.UNKNOWN_NONCE
        age = self._clock() - entry.issued_at
        if age < 0 or age > self.lifetime_s:
            return Verdict.STALE
        return Verdict.OK

    def verify(self, credentials: DigestCredentials, password: str, method: str) -> Verdict:
        if credentials.realm != self.realm:
            return Verdict.WRONG_REALM
        state = self.nonce_state(credentials.nonce)
        if state is not Verdict.OK:
            return state
        if self.qop and not credentials.qop:
            # We asked for qop=auth; an answer without it would allow a weaker (replayable) digest.
            return Verdict.UNKNOWN_NONCE
        nc = 1
        if credentials.qop:
            if credentials.nc is None or not _NC.match(credentials.nc):
                return Verdict.WRONG_PASSWORD  # RFC 7616: nc is exactly 8 hex digits
            nc = int(credentials.nc, 16)
        try:
            expected = compute_response(
                username=credentials.username,
                password=password,
                realm=credentials.realm,
                method=method,
                uri=credentials.uri,
                nonce=credentials.nonce,
                qop=credentials.qop,
                nc=credentials.nc,
                cnonce=credentials.cnonce,
            )
        except DigestError:
            return Verdict.WRONG_PASSWORD
        # Constant time, so the response cannot be guessed byte by byte from timing.
        if not hmac.compare_digest(expected.encode(), credentials.response.encode()):
            return Verdict.WRONG_PASSWORD
        # Only a right digest uses up its nc, so nobody can spend a camera's nonce by guessing.
        entry = self._issued[credentials.nonce]
        if nc <= entry.last_nc:
            return Verdict.REPLAYED
        entry.last_nc = nc
        return Verdict.OK
