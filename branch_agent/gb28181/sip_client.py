"""Requests the platform sends to a device (MESSAGE queries, INVITE, ACK, BYE) and their answers.

RFC 3261 17.1: over UDP a request is sent again, Timer A starting at T1 and doubling, until an
answer comes; a non-INVITE request keeps retransmitting (capped at T2) until its final answer,
an INVITE stops at the first provisional answer (100 Trying) because the device has it. Timer B/F
(64*T1 = 32 s) ends the wait. TCP is reliable, so nothing is resent there; the deadline stays.
Answers are matched to their request by the top Via branch and the CSeq method (17.1.3), and
must come from where the request went (the device's address, or its TCP connection): an answer
from anyone else is ignored, however right its branch, since an INVITE's answer says where the
media will be taken from.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from branch_agent.gb28181.devices import Transport
from branch_agent.gb28181.sip_message import (
    SipParseError,
    SipRequest,
    SipResponse,
    parse_via,
    sip_uri_host_port,
)

log = logging.getLogger(__name__)

T1_S = 0.5
T2_S = 4.0
BRANCH_MAGIC = "z9hG4bK"  # RFC 3261 8.1.1.7: marks a branch as globally unique

Sender = Callable[[Transport, tuple[str, int], bytes], None]


class SipTimeout(TimeoutError):
    """No final answer came within the transaction deadline."""


@dataclass(frozen=True)
class Destination:
    """Where a device is reached: its registration's transport and source address (NAT-proof)."""

    transport: Transport
    address: tuple[str, int]


@dataclass
class _Pending:
    future: asyncio.Future[SipResponse]
    destination: Destination
    on_provisional: Callable[[SipResponse], None] | None
    provisional: bool = False
    provisional_seen: list[int] = field(default_factory=list)


def new_branch() -> str:
    return BRANCH_MAGIC + secrets.token_hex(8)


def new_tag() -> str:
    return secrets.token_hex(4)


def new_call_id(host: str) -> str:
    return f"{secrets.token_hex(8)}@{host}"


def build_request(
    method: str,
    uri: str,
    *,
    via: str,
    from_: str,
    to: str,
    call_id: str,
    cseq: int,
    contact: str | None = None,
    content_type: str | None = None,
    body: bytes = b"",
    extra: tuple[tuple[str, str], ...] = (),
) -> SipRequest:
    request = SipRequest(method=method, uri=uri)
    request.add("Via", via)
    request.add("From", from_)
    request.add("To", to)
    request.add("Call-ID", call_id)
    request.add("CSeq", f"{cseq} {method}")
    request.add("Max-Forwards", "70")
    if contact:
        request.add("Contact", contact)
    for name, value in extra:
        request.add(name, value)
    if content_type:
        request.add("Content-Type", content_type)
    request.body = body
    return request


def ack_for_failure(invite: SipRequest, response: SipResponse) -> SipRequest:
    """RFC 3261 17.1.1.3: the ACK to a non-2xx answer belongs to the INVITE's own transaction."""
    number, _ = invite.cseq
    ack = SipRequest(method="ACK", uri=invite.uri)
    ack.add("Via", invite.get_all("Via")[0])
    ack.add("From", invite.require("From"))
    ack.add("To", response.require("To"))
    ack.add("Call-ID", invite.call_id)
    ack.add("CSeq", f"{number} ACK")
    ack.add("Max-Forwards", "70")
    return ack


class ClientTransactions:
    def __init__(self, send: Sender, *, t1_s: float = T1_S, t2_s: float = T2_S, timeout_s: float | None = None) -> None:
        self._send = send
        self.t1_s = t1_s
        self.t2_s = t2_s
        self.timeout_s = timeout_s if timeout_s is not None else 64 * t1_s
        self._pending: dict[tuple[str, str], _Pending] = {}

    def send_once(self, request: SipRequest, dest: Destination) -> bytes:
        """For ACK (never answered) and anything else sent outside a transaction."""
        raw = request.serialize()
        self._send(dest.transport, dest.address, raw)
        return raw

    async def request(
        self,
        request: SipRequest,
        dest: Destination,
        *,
        timeout_s: float | None = None,
        on_provisional: Callable[[SipResponse], None] | None = None,
    ) -> SipResponse:
        """Send ``request`` and return its final answer; raises SipTimeout or ConnectionError."""
        branch = parse_via(request.get_all("Via")[0]).branch
        if not branch:
            raise ValueError("a request we send must carry a Via branch")
        method = request.method
        key = (branch, method)
        pending = _Pending(asyncio.get_running_loop().create_future(), dest, on_provisional)
        self._pending[key] = pending
        raw = self.send_once(request, dest)
        retransmit = None
        if dest.transport is Transport.UDP:
            retransmit = asyncio.get_running_loop().create_task(
                self._retransmit(raw, dest, pending, method == "INVITE")
            )
        deadline = timeout_s if timeout_s is not None else self.timeout_s
        try:
            response = await asyncio.wait_for(asyncio.shield(pending.future), deadline)
        except TimeoutError:
            raise SipTimeout(
                f"no final answer to {method} from {dest.address[0]}:{dest.address[1]} within {deadline:g} s"
            ) from None
        finally:
            if retransmit is not None:
                retransmit.cancel()
            self._pending.pop(key, None)
        if method == "INVITE" and response.status >= 300:
            self.send_once(ack_for_failure(request, response), dest)
        return response

    async def _retransmit(self, raw: bytes, dest: Destination, pending: _Pending, invite: bool) -> None:
        interval = self.t1_s
        while True:
            await asyncio.sleep(interval)
            if pending.provisional:
                if invite:
                    return  # 17.1.1.2: the device has the INVITE; it will answer when it can
                interval = self.t2_s
            try:
                self._send(dest.transport, dest.address, raw)
            except (ConnectionError, OSError) as exc:
                log.warning("retransmission to %s:%d failed: %s", *dest.address, exc)
                return
            interval = interval * 2 if invite else min(interval * 2, self.t2_s)

    def on_response(self, response: SipResponse, source: Destination) -> bool:
        """Hand an answer to its waiting request; False if no request of ours is waiting for it
        at ``source`` (the transport and address the answer came from)."""
        try:
            vias = response.get_all("Via")
            branch = parse_via(vias[0]).branch if vias else None
            _, method = response.cseq
        except SipParseError:
            return False
        pending = self._pending.get((branch or "", method))
        if pending is None:
            return False
        if source != pending.destination:
            log.warning(
                "answer %d to %s from %s:%d ignored: the request went to %s:%d over %s",
                response.status,
                method,
                *source.address,
                *pending.destination.address,
                pending.destination.transport.value,
            )
            return False
        if response.status < 200:
            pending.provisional = True
            pending.provisional_seen.append(response.status)
            if pending.on_provisional is not None:
                pending.on_provisional(response)
        elif not pending.future.done():
            pending.future.set_result(response)
        return True


@dataclass(frozen=True)
class LocalParty:
    """Who the platform is on the wire: its ID, domain and the SIP address devices reach it at."""

    server_id: str
    domain: str
    host: str
    port: int

    def via(self, transport: Transport, branch: str | None = None) -> str:
        return f"SIP/2.0/{transport.value} {self.host}:{self.port};rport;branch={branch or new_branch()}"

    def from_header(self, tag: str) -> str:
        return f"<sip:{self.server_id}@{self.domain}>;tag={tag}"

    @property
    def contact(self) -> str:
        return f"<sip:{self.server_id}@{self.host}:{self.port}>"


def device_uri(user: str, contact: str, address: tuple[str, int]) -> str:
    """``sip:user@host:port`` at the device's Contact, or its source address without one."""
    if contact:
        try:
            host, port = sip_uri_host_port(contact)
            return f"sip:{user}@{host}:{port}" if port else f"sip:{user}@{host}"
        except SipParseError:
            pass
    return f"sip:{user}@{address[0]}:{address[1]}"
