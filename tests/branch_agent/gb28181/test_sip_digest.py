"""Digest authentication as cameras compute it, with and without qop, and nonce expiry."""

from __future__ import annotations

import pytest

from branch_agent.gb28181.sip_digest import (
    DigestChallenge,
    DigestCredentials,
    DigestError,
    NonceIssuer,
    Verdict,
    authorization_header,
    compute_response,
    parse_auth_params,
    parse_authorization,
)

URI = "sip:34020000002000000001@3402000000"


class SteppedClock:
    """A clock the test moves by hand, so nonce expiry is exercised without waiting."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rfc2617_worked_example() -> None:
    # RFC 2617 section 3.5 (with the method and URI of its example).
    assert (
        compute_response(
            username="Mufasa",
            password="Circle Of Life",
            realm="testrealm@host.com",
            method="GET",
            uri="/dir/index.html",
            nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
            qop="auth",
            nc="00000001",
            cnonce="0a4f113b",
        )
        == "6629fae49393a05397450978507c4ef1"
    )


def test_without_qop_uses_rfc2069_form() -> None:
    import hashlib

    def md5(s: str) -> str:
        return hashlib.md5(s.encode()).hexdigest()

    expected = md5(f"{md5('u:r:p')}:n:{md5('REGISTER:' + URI)}")
    assert compute_response(username="u", password="p", realm="r", method="REGISTER", uri=URI, nonce="n") == expected


@pytest.mark.parametrize("qop", ["auth", None])
def test_issued_challenge_accepts_right_password_and_refuses_wrong(qop: str | None) -> None:
    issuer = NonceIssuer("3402000000", qop=qop)
    challenge = issuer.challenge()
    assert ('qop="auth"' in challenge.header_value()) == (qop is not None)
    good = parse_authorization(
        authorization_header(
            challenge, username="34020000001320000264", password="12345678", method="REGISTER", uri=URI
        )
    )
    assert issuer.verify(good, "12345678", "REGISTER") is Verdict.OK
    bad = parse_authorization(
        authorization_header(challenge, username="34020000001320000264", password="wrong", method="REGISTER", uri=URI)
    )
    assert issuer.verify(bad, "12345678", "REGISTER") is Verdict.WRONG_PASSWORD


def test_nonce_expires_and_is_reported_stale() -> None:
    clock = SteppedClock()
    issuer = NonceIssuer("3402000000", lifetime_s=60, clock=clock)
    challenge = issuer.challenge()
    creds = parse_authorization(authorization_header(challenge, username="u", password="p", method="REGISTER", uri=URI))
    clock.now += 59
    assert issuer.verify(creds, "p", "REGISTER") is Verdict.OK
    clock.now += 2
    assert issuer.verify(creds, "p", "REGISTER") is Verdict.STALE
    assert "stale=true" in issuer.challenge(stale=True).header_value()


def test_forged_nonce_and_other_realm_are_refused() -> None:
    issuer = NonceIssuer("3402000000")
    forged = DigestChallenge(realm="3402000000", nonce="18b.deadbeef")
    creds = parse_authorization(authorization_header(forged, username="u", password="p", method="REGISTER", uri=URI))
    assert issuer.verify(creds, "p", "REGISTER") is Verdict.UNKNOWN_NONCE
    other = DigestChallenge(realm="4401000000", nonce=issuer.challenge().nonce)
    creds = parse_authorization(authorization_header(other, username="u", password="p", method="REGISTER", uri=URI))
    assert issuer.verify(creds, "p", "REGISTER") is Verdict.WRONG_REALM


def test_answer_without_qop_when_qop_was_asked_is_not_accepted() -> None:
    issuer = NonceIssuer("3402000000", qop="auth")
    challenge = issuer.challenge()
    downgraded = DigestChallenge(realm=challenge.realm, nonce=challenge.nonce, qop=None)
    creds = parse_authorization(
        authorization_header(downgraded, username="u", password="p", method="REGISTER", uri=URI)
    )
    assert issuer.verify(creds, "p", "REGISTER") is not Verdict.OK


def test_parses_camera_authorization_header() -> None:
    header = (
        'Digest username="34020000001320000264", realm="3402000000", '
        'nonce="6eb1340d99c404a0e4d3b68d15d1d46f", uri="sip:34020000002000000001@3402000000", '
        'response="4c97657aa0412c25d4b862219b635c17", algorithm=MD5, cnonce="0a4f113b", qop=auth, nc=00000001'
    )
    creds = parse_authorization(header)
    assert (creds.username, creds.qop, creds.nc, creds.cnonce) == (
        "34020000001320000264",
        "auth",
        "00000001",
        "0a4f113b",
    )
    _, params = parse_auth_params('Digest realm="a\\"b", nonce=x')
    assert params == {"realm": 'a"b', "nonce": "x"}


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("Basic dXNlcjpwYXNz", "only Digest"),
        ('Digest username="u", realm="r", nonce="n", uri="x"', "lacks response"),
        ('Digest username="u", realm="r", nonce="n", uri="x", response="y", qop=auth', "nc and cnonce"),
        ('Digest username="u", realm="r", nonce="n", uri="x", response="y", algorithm=SHA-256', "only MD5"),
        ('Digest username="u" realm', "cannot read auth parameter"),
    ],
)
def test_malformed_authorization_gets_clear_error(header: str, message: str) -> None:
    with pytest.raises(DigestError, match=message):
        parse_authorization(header)


def _creds(challenge: DigestChallenge, nc: int = 1, password: str = "p", cnonce: str = "c0ffee") -> DigestCredentials:
    return parse_authorization(
        authorization_header(
            challenge, username="u", password=password, method="REGISTER", uri=URI, nc=nc, cnonce=cnonce
        )
    )


def test_nonces_are_random_and_only_issued_ones_are_known() -> None:
    issuer = NonceIssuer("3402000000", clock=SteppedClock())
    nonces = {issuer.challenge().nonce for _ in range(50)}
    assert len(nonces) == 50 and all(len(n) >= 32 for n in nonces)
    # Another issuer's nonce (another process, another run) is not ours.
    foreign = NonceIssuer("3402000000", clock=SteppedClock()).challenge()
    assert issuer.verify(_creds(foreign), "p", "REGISTER") is Verdict.UNKNOWN_NONCE


def test_with_qop_each_nc_is_accepted_once_and_must_increase() -> None:
    issuer = NonceIssuer("3402000000", qop="auth", clock=SteppedClock())
    challenge = issuer.challenge()
    assert issuer.verify(_creds(challenge, 1), "p", "REGISTER") is Verdict.OK
    # The same Authorization again (a captured REGISTER replayed) is refused.
    assert issuer.verify(_creds(challenge, 1), "p", "REGISTER") is Verdict.REPLAYED
    assert issuer.verify(_creds(challenge, 3), "p", "REGISTER") is Verdict.OK
    assert issuer.verify(_creds(challenge, 2), "p", "REGISTER") is Verdict.REPLAYED
    assert issuer.verify(_creds(challenge, 3, cnonce="other"), "p", "REGISTER") is Verdict.REPLAYED
    assert issuer.verify(_creds(challenge, 4), "p", "REGISTER") is Verdict.OK


def test_without_qop_a_nonce_is_single_use() -> None:
    issuer = NonceIssuer("3402000000", qop=None, clock=SteppedClock())
    challenge = issuer.challenge()
    assert issuer.verify(_creds(challenge), "p", "REGISTER") is Verdict.OK
    assert issuer.verify(_creds(challenge), "p", "REGISTER") is Verdict.REPLAYED


def test_wrong_password_does_not_use_up_the_nonce() -> None:
    issuer = NonceIssuer("3402000000", qop="auth", clock=SteppedClock())
    challenge = issuer.challenge()
    assert issuer.verify(_creds(challenge, 5, password="guess"), "p", "REGISTER") is Verdict.WRONG_PASSWORD
    assert issuer.verify(_creds(challenge, 1), "p", "REGISTER") is Verdict.OK


@pytest.mark.parametrize("nc", ["0000000g", "²", "", "000000001"])
def test_unreadable_nc_is_refused(nc: str) -> None:
    issuer = NonceIssuer("3402000000", qop="auth", clock=SteppedClock())
    challenge = issuer.challenge()
    good = _creds(challenge)
    bad = DigestCredentials(**{**good.__dict__, "nc": nc})
    assert issuer.verify(bad, "p", "REGISTER") is not Verdict.OK


def test_expired_nonce_is_stale_and_the_table_stays_bounded() -> None:
    clock = SteppedClock()
    issuer = NonceIssuer("3402000000", lifetime_s=60, qop="auth", clock=clock, max_nonces=100)
    challenge = issuer.challenge()
    clock.now += 61
    assert issuer.verify(_creds(challenge), "p", "REGISTER") is Verdict.STALE
    for _ in range(1000):
        issuer.challenge()
    assert issuer.outstanding <= 100
