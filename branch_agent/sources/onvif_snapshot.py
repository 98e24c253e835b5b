"""One JPEG picture from an ONVIF profile's snapshot URI.

Bounded: a camera (or whatever answers at its address) cannot make the agent read more than
MAX_SNAPSHOT_BYTES. The password goes only as a Digest answer, or as Basic over HTTPS: Basic over
plain HTTP would put it on the branch LAN in clear text, and is refused.
"""

from __future__ import annotations

import requests
from requests.auth import AuthBase, HTTPBasicAuth, HTTPDigestAuth

from branch_agent.sources.onvif_endpoint import OnvifAuthError, OnvifEndpoint, OnvifError, OnvifUnreachable
from branch_agent.sources.stream_urls import redact_url, without_userinfo

MAX_SNAPSHOT_BYTES = 8 * 1024 * 1024


def _read_bounded(response: requests.Response, shown: str, address: str) -> bytes:
    declared = response.headers.get("Content-Length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > MAX_SNAPSHOT_BYTES:
        raise OnvifError(
            f"snapshot {shown} of ONVIF device {address} is {declared} bytes, over the {MAX_SNAPSHOT_BYTES}"
        )
    body = bytearray()
    for chunk in response.iter_content(64 * 1024):
        body += chunk
        if len(body) > MAX_SNAPSHOT_BYTES:
            raise OnvifError(f"snapshot {shown} of ONVIF device {address} goes on past {MAX_SNAPSHOT_BYTES} bytes")
    return bytes(body)


def _auth_for(endpoint: OnvifEndpoint, challenge: str, url: str, shown: str, basic_over_http: bool) -> AuthBase:
    scheme = challenge.split(" ", 1)[0].lower()
    if scheme == "digest":
        return HTTPDigestAuth(endpoint.username, endpoint.password)
    if scheme == "basic" and (basic_over_http or url.lower().startswith("https://")):
        return HTTPBasicAuth(endpoint.username, endpoint.password)
    if scheme == "basic":
        raise OnvifAuthError(
            f"snapshot {shown} of ONVIF device {endpoint.address} asks for HTTP Basic over plain HTTP, which "
            "would send the password in clear text: refused (enable Digest or HTTPS on the camera)"
        )
    raise OnvifError(
        f"snapshot {shown} of ONVIF device {endpoint.address} asks for unsupported HTTP authentication {scheme!r}"
    )


def fetch_snapshot(endpoint: OnvifEndpoint, snapshot_uri: str, basic_over_http: bool = False) -> bytes:
    """One JPEG picture from a profile's snapshot URI, answering the camera's Digest challenge (or
    Basic over HTTPS; over plain HTTP only where the operator said so for that camera) with the
    endpoint's credentials."""
    url = without_userinfo(snapshot_uri)
    shown = redact_url(url)
    try:
        with requests.Session() as session:
            response = session.get(url, timeout=endpoint.timeout_s, stream=True)
            if response.status_code == 401 and endpoint.username:
                challenge = response.headers.get("WWW-Authenticate", "")
                auth = _auth_for(endpoint, challenge, url, shown, basic_over_http)
                response.close()
                response = session.get(url, auth=auth, timeout=endpoint.timeout_s, stream=True)
            with response:
                content = _read_bounded(response, shown, endpoint.address) if response.status_code == 200 else b""
    except requests.RequestException as exc:
        raise OnvifUnreachable(
            f"cannot fetch snapshot {shown} of ONVIF device {endpoint.address}: {type(exc).__name__}"
        ) from exc
    if response.status_code in (401, 403):
        raise OnvifAuthError(
            f"snapshot {shown} of ONVIF device {endpoint.address} refused the credentials "
            f"for user {endpoint.username!r} (HTTP {response.status_code})"
        )
    if response.status_code != 200:
        raise OnvifError(f"snapshot {shown} of ONVIF device {endpoint.address} answered HTTP {response.status_code}")
    if not content.startswith(b"\xff\xd8"):
        raise OnvifError(
            f"snapshot {shown} of ONVIF device {endpoint.address} is not a JPEG "
            f"(Content-Type {response.headers.get('Content-Type')!r})"
        )
    return content
