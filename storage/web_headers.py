"""Headers both web layers send on every answer: pages are not framed, types not sniffed, no script or
style from anywhere but the site itself, and no address leaked to other sites."""

from __future__ import annotations

from typing import Final, TypeVar

from werkzeug.wrappers import Response

CONTENT_SECURITY_POLICY: Final = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "media-src 'self' blob:",  # a player may feed the video element through a blob: URL
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)

SECURITY_HEADERS: Final = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

R = TypeVar("R", bound=Response)


def add_security_headers(resp: R) -> R:
    """For `app.after_request`: a view that set one of these itself keeps its own value."""
    for name, value in SECURITY_HEADERS.items():
        resp.headers.setdefault(name, value)
    return resp
