"""What every center answer carries and withholds: framing, sniffing, referrer and content-security
headers on every response; pages that need no inline script or style; a health check that tells its
state but no error text; and numbers in headers and query strings that are ASCII digits or a clear 400."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from storage.contract.request_signing import HEADER_TIMESTAMP, sign_request
from tests.center_platform.archive_rig import (  # noqa: F401
    BRANCH_CODE,
    BRANCH_SECRET,
    ArchiveRig,
    archive_rig,
    signed_branch_request,
)

EXPECTED = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def _assert_hardened(headers: Any, what: str) -> None:
    for name, value in EXPECTED.items():
        assert headers.get(name) == value, (what, name, headers.get(name))
    csp = headers.get("Content-Security-Policy", "")
    directives = dict((d.strip().split(" ", 1) + [""])[:2] for d in csp.split(";") if d.strip())
    assert directives.get("default-src") == "'self'", (what, csp)
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, (what, csp)
    assert directives.get("frame-ancestors") == "'none'" and directives.get("object-src") == "'none'", (what, csp)


def test_every_kind_of_answer_carries_the_security_headers(archive_rig: ArchiveRig) -> None:
    anonymous = archive_rig.app.test_client()
    auditor = archive_rig.login("auditor")
    answers = {
        "sign-in page": anonymous.get("/login"),
        "redirect": anonymous.get("/"),
        "health": anonymous.get("/healthz"),
        "refused api": anonymous.get("/api/audit/events"),
        "not found": anonymous.get("/no-such-page"),
        "stylesheet": anonymous.get("/static/center.css"),
        "page": auditor.get("/audit"),
        "json": auditor.get("/api/audit/events"),
        "branch api": signed_branch_request(archive_rig.branch_client(), "GET", "/api/branch/v1/catalog")[0],
    }
    for what, r in answers.items():
        _assert_hardened(r.headers, what)


INLINE = [
    (re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I), "inline <script>"),
    (re.compile(r"<style\b", re.I), "<style> block"),
    (re.compile(r"\sstyle\s*=", re.I), "style attribute"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "inline event handler"),
    (re.compile(r"javascript:", re.I), "javascript: URL"),
]


def test_pages_need_no_inline_script_or_style_and_their_files_exist(archive_rig: ArchiveRig) -> None:
    clip_id = archive_rig.archive()
    pages = {
        "compliance": ["/recordings", f"/recordings/{clip_id}"],
        "sysadmin": ["/admin/products", "/admin/branches/B009", "/admin/users/auditor", "/operations/uploads"],
        "auditor": ["/audit", "/audit/certificates"],
    }
    seen: dict[str, str] = {"/login": archive_rig.app.test_client().get("/login").text}
    for username, paths in pages.items():
        client = archive_rig.login(username)
        for path in paths:
            r = client.get(path)
            assert r.status_code == 200, (path, r.status_code)
            seen[path] = r.text
    assets: set[str] = set()
    for path, html in seen.items():
        for pattern, what in INLINE:
            found = pattern.search(html)
            assert found is None, f"{path}: {what}: {html[max(0, found.start() - 80) : found.end() + 80]}"
        assets.update(re.findall(r'<(?:script|link)[^>]+(?:src|href)="(/static/[^"]+)"', html))
    assert "/static/center.css" in assets and "/static/player.js" in assets
    client = archive_rig.app.test_client()
    for asset in assets:
        assert client.get(asset).status_code == 200, asset


class _DeadEngine:
    def connect(self) -> Any:
        raise OperationalError("SELECT 1", {}, Exception('password authentication failed for user "center-secret"'))


def test_health_tells_the_state_but_no_error_text(
    archive_rig: ArchiveRig, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    svc = archive_rig.app.extensions["center"]
    healthy = archive_rig.app.test_client().get("/healthz")
    assert healthy.status_code == 200 and healthy.get_json()["status"] == "ok"
    monkeypatch.setattr(svc.store, "ping", lambda: (False, "AccessDenied for key store-secret at http://10.0.0.7"))
    engine, svc.engine = svc.engine, _DeadEngine()
    try:
        r = archive_rig.app.test_client().get("/healthz")
    finally:
        svc.engine = engine
    assert r.status_code == 503
    assert r.get_json() == {
        "status": "degraded",
        "components": {"database": {"status": "down"}, "storage": {"status": "down"}},
    }
    assert "secret" not in r.text and "10.0.0.7" not in r.text
    logged = caplog.text
    assert "center-secret" in logged and "store-secret" in logged  # the detail is in the log, for operators


@pytest.mark.parametrize("timestamp", ["²", "１７００００００００", "1e9", "-5", " 17", "9" * 40])
def test_a_timestamp_that_is_not_ascii_digits_is_a_clear_400(archive_rig: ArchiveRig, timestamp: str) -> None:
    path = "/api/branch/v1/catalog"
    headers = sign_request(BRANCH_CODE, BRANCH_SECRET, "GET", path, b"", int(time.time())).as_dict()
    headers[HEADER_TIMESTAMP] = timestamp
    r, _ = signed_branch_request(archive_rig.branch_client(), "GET", path, headers=headers)
    assert r.status_code == 400, (timestamp, r.status_code)
    assert "timestamp" in r.get_json()["error"]


@pytest.mark.parametrize(
    ("who", "path"),
    [
        ("compliance", "/recordings?offset=²"),
        ("compliance", "/recordings?offset=１"),
        ("compliance", "/api/recordings?offset=²"),
        ("compliance", "/api/recordings?limit=２"),
        ("auditor", "/api/audit/events?limit=²"),
        ("auditor", "/api/audit/events?offset=١"),
        ("auditor", "/audit?offset=²"),
    ],
)
def test_unicode_digits_in_query_numbers_are_a_clear_400(archive_rig: ArchiveRig, who: str, path: str) -> None:
    r = archive_rig.login(who).get(path)
    assert r.status_code == 400, (path, r.status_code)
    assert "whole number" in r.text


def test_unicode_digits_in_a_catalogue_form_number_are_a_clear_400(archive_rig: ArchiveRig) -> None:
    admin = archive_rig.login("sysadmin")
    r = admin.post(
        "/admin/product-types",
        data={"code": "T-UNI", "name": "x", "retention_rule": "fixed_term", "years_after_maturity": "²"},
    )
    assert r.status_code == 400, r.status_code
