"""Stream URLs with and without credentials: FFmpeg wants the password in the URL, nobody else may see it."""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

_SECRET_QUERY_KEYS = frozenset({"password", "passwd", "pwd", "pass"})


def without_userinfo(url: str) -> str:
    """The URL with any user:password removed (cameras sometimes put theirs in the URIs they hand out)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def stream_url_with_credentials(uri: str, username: str, password: str) -> str:
    """The RTSP URI with percent-encoded user:password, as FFmpeg/PyAV take them."""
    parts = urlsplit(uri)
    if parts.scheme.lower() not in ("rtsp", "rtsps"):
        raise ValueError(f"not an RTSP URL: {redact_url(uri)}")
    hostport = parts.netloc.rpartition("@")[2]
    if not username:
        return urlunsplit(parts._replace(netloc=hostport))
    userinfo = quote(username, safe="") + (":" + quote(password, safe="") if password else "")
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{hostport}"))


def redact_url(url: str) -> str:
    """The URL with any password (in the userinfo or a password-like query parameter) as ***."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if at and ":" in userinfo:
        netloc = f"{userinfo.split(':', 1)[0]}:***@{hostport}"
    else:
        netloc = parts.netloc
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(key.lower() in _SECRET_QUERY_KEYS for key, _ in pairs):
            query = urlencode([(k, "***" if k.lower() in _SECRET_QUERY_KEYS else v) for k, v in pairs], safe="*")
    return urlunsplit(parts._replace(netloc=netloc, query=query))
