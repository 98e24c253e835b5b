"""HTTP client for the center's branch API: signed requests, clock-offset correction, typed replies."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import urlsplit

import requests
from pydantic import BaseModel

from center_platform.contract import request_signing as rs
from center_platform.contract.uploads import (
    PartChecksum,
    PresignRequest,
    PresignResponse,
    RegisterUpload,
    UploadOutcome,
    UploadPlan,
)

M = TypeVar("M", bound=BaseModel)


class CenterUnavailable(RuntimeError):
    """The center could not be reached or answered 5xx: try again later, keep everything queued."""


class CenterRefused(RuntimeError):
    """The center understood and refused (4xx): the message is the center's reason."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"center refused ({status}): {message}")
        self.status = status


@dataclass
class CenterClient:
    base_url: str
    branch_code: str
    api_secret: str
    timeout_s: float = 30.0
    # center clock minus our clock, learned from every reply; reported in the heartbeat.
    clock_offset_s: float = 0.0
    _http: requests.Session = field(default_factory=requests.Session)

    def _send(
        self, method: str, path: str, body: object | None = None, retry_on_clock: bool = True, outcome_statuses: tuple[int, ...] = ()
    ) -> dict[str, object]:
        """outcome_statuses: 4xx answers whose body is a normal reply (a quarantined clip, for example)."""
        data = b"" if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        url = self.base_url.rstrip("/") + path
        signed_path = urlsplit(url).path + (("?" + urlsplit(url).query) if urlsplit(url).query else "")
        ts = int(time.time() + self.clock_offset_s)
        headers = rs.sign_request(self.branch_code, self.api_secret, method, signed_path, data, ts).as_dict()
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            resp = self._http.request(method, url, data=data, headers=headers, timeout=self.timeout_s)
        except requests.RequestException as exc:
            raise CenterUnavailable(f"center at {self.base_url} unreachable: {exc}") from exc
        center_time = resp.headers.get(rs.HEADER_CENTER_TIME)
        if center_time and center_time.isdigit():
            self.clock_offset_s = float(center_time) - time.time()
        if resp.status_code == 401 and retry_on_clock and "timestamp" in resp.text:
            return self._send(method, path, body, retry_on_clock=False, outcome_statuses=outcome_statuses)
        if resp.status_code >= 500:
            raise CenterUnavailable(f"center answered {resp.status_code}: {_error(resp)}")
        if resp.status_code >= 400 and resp.status_code not in outcome_statuses:
            raise CenterRefused(resp.status_code, _error(resp))
        try:
            payload = resp.json()
        except ValueError as exc:
            raise CenterUnavailable(f"center answered non-JSON ({resp.status_code})") from exc
        if not isinstance(payload, dict):
            raise CenterUnavailable("center answered an unexpected JSON shape")
        return payload

    def catalog(self) -> list[dict[str, object]]:
        return list(self._send("GET", "/api/branch/v1/catalog")["products"])  # type: ignore[arg-type]

    def staff(self) -> list[dict[str, object]]:
        return list(self._send("GET", "/api/branch/v1/staff")["staff"])  # type: ignore[arg-type]

    def register_upload(self, manifest: dict[str, object]) -> UploadPlan:
        return UploadPlan.model_validate(self._send("POST", "/api/branch/v1/uploads", RegisterUpload(manifest=manifest).model_dump()))

    def presign(self, clip_id: str, parts: list[PartChecksum]) -> PresignResponse:
        body = PresignRequest(parts=parts).model_dump()
        return PresignResponse.model_validate(self._send("POST", f"/api/branch/v1/uploads/{clip_id}/parts", body))

    def complete(self, clip_id: str) -> UploadOutcome:
        # 422 carries the quarantine outcome: the center refused the bytes, and says why.
        return UploadOutcome.model_validate(self._send("POST", f"/api/branch/v1/uploads/{clip_id}/complete", outcome_statuses=(422,)))


def _error(resp: requests.Response) -> str:
    try:
        return str(resp.json().get("error", resp.text[:200]))
    except ValueError:
        return resp.text[:200]
