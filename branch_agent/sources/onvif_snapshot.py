"""One JPEG picture from an ONVIF profile's snapshot URI."""

from __future__ import annotations

import requests
from requests.auth import AuthBase, HTTPBasicAuth, HTTPDigestAuth

from branch_agent.sources.onvif_endpoint import OnvifAuthError, OnvifEndpoint, OnvifError, OnvifUnreachable
from branch_agent.sources.stream_urls import redact_url, without_userinfo


def fetch_snapshot(endpoint: OnvifEndpoint, snapshot_uri: str) -> bytes:
    """One JPEG picture from a profile's snapshot URI, answering the HTTP Basic or Digest
    challenge the camera makes with the endpoint's credentials."""
    url = without_userinfo(snapshot_uri)
    shown = redact_url(url)
    try:
        with requests.Session() as session:
            response = session.get(url, timeout=endpoint.timeout_s)
            if response.status_code == 401 and endpoint.username:
                scheme = response.headers.get("WWW-Authenticate", "").split(" ", 1)[0].lower()
                auth: AuthBase
                if scheme == "digest":
                    auth = HTTPDigestAuth(endpoint.username, endpoint.password)
                elif scheme == "basic":
                    auth = HTTPBasicAuth(endpoint.username, endpoint.password)
                else:
                    raise OnvifError(
                        f"snapshot {shown} of ONVIF device {endpoint.address} asks for "
                        f"unsupported HTTP authentication {scheme!r}"
                    )
                response = session.get(url, auth=auth, timeout=endpoint.timeout_s)
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
    if not response.content.startswith(b"\xff\xd8"):
        raise OnvifError(
            f"snapshot {shown} of ONVIF device {endpoint.address} is not a JPEG "
            f"(Content-Type {response.headers.get('Content-Type')!r})"
        )
    return response.content
