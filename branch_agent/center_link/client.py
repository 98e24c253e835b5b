"""HTTP client for the center's branch API: signed requests, signed replies, clock-offset correction, typed replies.

Every reply must carry the center's signature for the very request it answers
(`storage.contract.reply_signing`); one that does not is refused like a center that cannot be reached
(CenterReplyNotSigned is a CenterUnavailable): nothing is marked, the clip stays queued. The clock
offset is learned only from signed replies.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import urlsplit

import requests
from pydantic import BaseModel

from storage.contract import reply_signing, routes
from storage.contract import request_signing as rs
from storage.contract.branch_sync import BranchConfigView, CatalogPayload, StaffPayload
from storage.contract.central_config import CentralConfigReceipt, CentralConfigReport
from storage.contract.heartbeat import Heartbeat, HeartbeatReceipt
from storage.contract.supplementary import DECISIONS, DecisionsReceipt, SupplementaryDecisions
from storage.contract.uploads import (
    PartChecksum,
    PresignRequest,
    PresignResponse,
    RegisterUpload,
    UploadOutcome,
    UploadPlan,
)
from storage.manifest import ClipManifest

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class VersionedReply:
    etag: str
    payload: dict[str, object]


class CenterUnavailable(RuntimeError):
    """The center could not be reached or answered 5xx: try again later, keep everything queued."""


class CenterReplyNotSigned(CenterUnavailable):
    """The answer is not signed by the center for this request: whoever sent it, it is believed in nothing."""


@dataclass(frozen=True)
class SignedReply:
    response: requests.Response
    receipt: reply_signing.ReplyReceipt


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
    # This host's wall clock; injectable so that a branch hours off can be tested without changing the machine's.
    clock: Callable[[], float] = time.time
    # TLS: True checks the center's certificate against the system's CAs, a path against that CA file.
    verify: bool | str = True
    _http: requests.Session = field(default_factory=requests.Session)

    def __post_init__(self) -> None:
        self._http.verify = self.verify

    def _request(
        self,
        method: str,
        path: str,
        body: object | None = None,
        retry_on_clock: bool = True,
        outcome_statuses: tuple[int, ...] = (),
        headers: dict[str, str] | None = None,
    ) -> SignedReply:
        """A signed request; raises for 5xx, for 4xx not in outcome_statuses and for a reply the center did
        not sign, else returns the reply with its receipt."""
        data = b"" if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        url = self.base_url.rstrip("/") + path
        signed_path = urlsplit(url).path + (("?" + urlsplit(url).query) if urlsplit(url).query else "")
        ts = int(self.clock() + self.clock_offset_s)
        sent_headers = rs.sign_request(self.branch_code, self.api_secret, method, signed_path, data, ts).as_dict()
        nonce = sent_headers[rs.HEADER_NONCE]
        sent_headers.update(headers or {})
        if body is not None:
            sent_headers["Content-Type"] = "application/json"
        try:
            resp = self._http.request(method, url, data=data, headers=sent_headers, timeout=self.timeout_s)
        except requests.RequestException as exc:
            raise CenterUnavailable(f"center at {self.base_url} unreachable: {exc}") from exc
        try:
            receipt = reply_signing.verify_reply(
                self.api_secret, method, signed_path, resp.status_code, resp.headers, resp.content, nonce
            )
        except reply_signing.ReplyNotSigned as exc:
            raise CenterReplyNotSigned(
                f"中心应答未经签名或签名不符,按中心不可达处理,不标记任何录像 / the reply to {method} {signed_path} "
                f"(HTTP {resp.status_code}) from {self.base_url} is not signed by the center ({exc}); treated as "
                "the center being unreachable, nothing is marked: check that center.url is the real center"
            ) from exc
        self.clock_offset_s = float(receipt.timestamp) - self.clock()
        if resp.status_code == 401 and retry_on_clock and "timestamp" in resp.text:
            return self._request(
                method, path, body, retry_on_clock=False, outcome_statuses=outcome_statuses, headers=headers
            )
        if resp.status_code >= 500:
            raise CenterUnavailable(f"center answered {resp.status_code}: {_error(resp)}")
        if resp.status_code >= 400 and resp.status_code not in outcome_statuses:
            raise CenterRefused(resp.status_code, _error(resp))
        return SignedReply(resp, receipt)

    def _send(
        self,
        method: str,
        path: str,
        body: object | None = None,
        retry_on_clock: bool = True,
        outcome_statuses: tuple[int, ...] = (),
    ) -> dict[str, object]:
        """outcome_statuses: 4xx answers whose body is a normal reply (a quarantined clip, for example)."""
        return _json_object(self._request(method, path, body, retry_on_clock, outcome_statuses).response)

    def _get(self, path: str, model: type[M]) -> M:
        return model.model_validate(self._send("GET", path))

    def catalog(self) -> CatalogPayload:
        return self._get(routes.CATALOG, CatalogPayload)

    def staff(self) -> StaffPayload:
        return self._get(routes.STAFF, StaffPayload)

    def branch_config(self) -> BranchConfigView:
        return self._get(routes.BRANCH, BranchConfigView)

    def fetch_versioned(self, path: str, etag: str | None) -> VersionedReply | None:
        """A conditional GET: None when the center answers 304 (our copy, tagged `etag`, is current)."""
        resp = self._request("GET", path, headers={"If-None-Match": etag} if etag else None).response
        if resp.status_code == 304:
            return None
        new_etag = resp.headers.get("ETag")
        if not new_etag:
            raise CenterUnavailable(f"center answered {path} without an ETag")
        return VersionedReply(etag=new_etag, payload=_json_object(resp))

    def send_heartbeat(self, beat: Heartbeat) -> HeartbeatReceipt:
        return HeartbeatReceipt.model_validate(self._send("POST", routes.HEARTBEAT, beat.model_dump(mode="json")))

    def report_central_config(self, report: CentralConfigReport) -> CentralConfigReceipt:
        body = report.model_dump(mode="json")
        return CentralConfigReceipt.model_validate(self._send("POST", routes.CENTRAL_CONFIG_REPORT, body))

    def send_supplementary_decisions(self, sent: SupplementaryDecisions) -> DecisionsReceipt:
        return DecisionsReceipt.model_validate(self._send("POST", DECISIONS, sent.model_dump(mode="json")))

    def register_upload(self, manifest: ClipManifest | dict[str, object]) -> UploadPlan:
        """A dict is the manifest file as the branch signed and stored it: it goes out as it is and the
        center judges it, so a file that no longer parses is refused by the center (422), as always."""
        body = (
            {"manifest": manifest}
            if isinstance(manifest, dict)
            else RegisterUpload(manifest=manifest).model_dump(mode="json")
        )
        return UploadPlan.model_validate(self._send("POST", routes.UPLOADS, body))

    def presign(self, clip_id: str, parts: list[PartChecksum]) -> PresignResponse:
        body = PresignRequest(parts=parts).model_dump()
        return PresignResponse.model_validate(self._send("POST", routes.upload_parts(clip_id), body))

    def complete(self, clip_id: str) -> UploadOutcome:
        return self.complete_with_receipt(clip_id)[0]

    def complete_with_receipt(self, clip_id: str) -> tuple[UploadOutcome, reply_signing.ReplyReceipt]:
        """The center's answer on a clip and its signed receipt (what lets the spool purge a verified clip)."""
        # 422 carries the quarantine outcome: the center refused the bytes, and says why.
        reply = self._request("POST", routes.upload_complete(clip_id), outcome_statuses=(422,))
        outcome = UploadOutcome.model_validate(_json_object(reply.response))
        if outcome.clip_id != clip_id:
            raise CenterUnavailable(f"center answered on clip {outcome.clip_id} when asked about {clip_id}")
        return outcome, reply.receipt


def _json_object(resp: requests.Response) -> dict[str, object]:
    try:
        payload = resp.json()
    except ValueError as exc:
        raise CenterUnavailable(f"center answered non-JSON ({resp.status_code})") from exc
    if not isinstance(payload, dict):
        raise CenterUnavailable("center answered an unexpected JSON shape")
    return payload


def _error(resp: requests.Response) -> str:
    try:
        return str(resp.json().get("error", resp.text[:200]))
    except ValueError:
        return resp.text[:200]
