"""Finding ONVIF cameras with a WS-Discovery Probe (SOAP-over-UDP, port 3702).

Written against WS-Discovery (2005/04, the version ONVIF Profile S mandates) and SOAP-over-UDP with
the standard library: a client only needs to send one Probe and read the ProbeMatches that come
back, which the `WSDiscovery` package also does, but with a threaded service, multicast listeners
on every interface and Hello/Bye tracking that a one-shot search has no use for.

In production the Probe goes to the multicast group 239.255.255.250; given an address, it is sent
there by unicast instead (a camera on another subnet, or a test). Replies are read until the timeout
and parsed by namespace URI and local name, so any prefix a firmware picks works, and both the
standard ProbeMatches/ProbeMatch and the bare ProbeMatch some firmwares send are read.
"""

from __future__ import annotations

import logging
import select
import socket
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from urllib.parse import unquote

log = logging.getLogger(__name__)

MULTICAST_ADDRESS = "239.255.255.250"
DISCOVERY_PORT = 3702
# SOAP-over-UDP: a multicast message is sent once more (MULTICAST_UDP_REPEAT = 1) after a delay
# between UDP_MIN_DELAY (50 ms) and UDP_MAX_DELAY (250 ms), to ride over a lost datagram.
_REPEAT_AFTER_S = 0.1
# WS-Discovery asks for a multicast hop limit of 1: cameras are found on the local link.
_MULTICAST_TTL = 1
_MAX_DATAGRAM = 65535
ONVIF_SCOPE_PREFIX = "onvif://www.onvif.org/"

_PROBE = """<?xml version="1.0" encoding="UTF-8"?>
<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"
            xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing"
            xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery"
            xmlns:dn="http://www.onvif.org/ver10/network/wsdl">
  <s:Header>
    <a:Action s:mustUnderstand="1">http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</a:Action>
    <a:MessageID>{message_id}</a:MessageID>
    <a:To s:mustUnderstand="1">urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>
  </s:Header>
  <s:Body>
    <d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe>
  </s:Body>
</s:Envelope>
"""


@dataclass(frozen=True)
class DiscoveredDevice:
    endpoint_reference: str
    xaddrs: list[str]
    scopes: list[str]
    types: list[str]

    def onvif_scope_values(self, kind: str) -> list[str]:
        """Values of onvif://www.onvif.org/<kind>/<value> scopes, percent-decoded."""
        prefix = f"{ONVIF_SCOPE_PREFIX}{kind}/"
        return [unquote(scope[len(prefix) :]) for scope in self.scopes if scope.startswith(prefix)]

    @property
    def name(self) -> str | None:
        names = self.onvif_scope_values("name")
        return names[0] if names else None

    @property
    def hardware(self) -> str | None:
        models = self.onvif_scope_values("hardware")
        return models[0] if models else None


def probe_message(message_id: str) -> bytes:
    return _PROBE.format(message_id=message_id).encode("utf-8")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(element: ET.Element, name: str) -> ET.Element | None:
    return next((c for c in element if _local(c.tag) == name), None)


def _words(element: ET.Element | None) -> list[str]:
    return (element.text or "").split() if element is not None else []


def parse_probe_matches(datagram: bytes, message_id: str | None = None) -> list[DiscoveredDevice]:
    """The devices in one ProbeMatches reply; [] when it answers another Probe than `message_id`.

    Raises ET.ParseError for a datagram that is not XML."""
    root = ET.fromstring(datagram)
    relates_to = next((e.text.strip() for e in root.iter() if _local(e.tag) == "RelatesTo" and e.text), None)
    if message_id is not None and relates_to is not None and relates_to != message_id:
        return []
    devices = []
    for match in (e for e in root.iter() if _local(e.tag) == "ProbeMatch"):
        reference = _child(match, "EndpointReference")
        address = _child(reference, "Address") if reference is not None else None
        endpoint_reference = (address.text or "").strip() if address is not None else ""
        if not endpoint_reference:
            log.info("WS-Discovery: ignoring a ProbeMatch without an endpoint reference")
            continue
        devices.append(
            DiscoveredDevice(
                endpoint_reference=endpoint_reference,
                xaddrs=_words(_child(match, "XAddrs")),
                scopes=_words(_child(match, "Scopes")),
                types=_words(_child(match, "Types")),
            )
        )
    return devices


def _merged(first: DiscoveredDevice, second: DiscoveredDevice) -> DiscoveredDevice:
    def union(a: list[str], b: list[str]) -> list[str]:
        return a + [item for item in b if item not in a]

    return DiscoveredDevice(
        first.endpoint_reference,
        union(first.xaddrs, second.xaddrs),
        union(first.scopes, second.scopes),
        union(first.types, second.types),
    )


def _open_socket(multicast: bool) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    if multicast:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, _MULTICAST_TTL)
    # Replies come back by unicast to the port the Probe left from.
    sock.bind(("", 0))
    return sock


def discover(timeout_s: float = 3.0, address: str | None = None, port: int = DISCOVERY_PORT) -> list[DiscoveredDevice]:
    """Probe for ONVIF devices and return those that answered within `timeout_s`, one per endpoint
    reference, in the order they first answered. [] when none did."""
    if not timeout_s > 0:
        raise ValueError(f"discovery timeout must be > 0 s, got {timeout_s}")
    if not 1 <= port <= 65535:
        raise ValueError(f"discovery port must be 1..65535, got {port}")
    target = (address or MULTICAST_ADDRESS, port)
    message_id = f"urn:uuid:{uuid.uuid4()}"
    probe = probe_message(message_id)
    found: dict[str, DiscoveredDevice] = {}
    with _open_socket(multicast=address is None) as sock:
        started = time.monotonic()
        deadline = started + timeout_s
        sock.sendto(probe, target)
        repeat_at: float | None = started + _REPEAT_AFTER_S
        while (now := time.monotonic()) < deadline:
            if repeat_at is not None and now >= repeat_at:
                sock.sendto(probe, target)
                repeat_at = None
            wait = min(deadline, repeat_at or deadline) - now
            readable, _, _ = select.select([sock], [], [], max(wait, 0.0))
            if not readable:
                continue
            try:
                datagram, sender = sock.recvfrom(_MAX_DATAGRAM)
            except ConnectionRefusedError:
                # An ICMP "port unreachable" for the unicast Probe: nobody listens there (yet).
                log.debug("WS-Discovery: %s:%d refused the Probe", *target)
                continue
            try:
                matches = parse_probe_matches(datagram, message_id)
            except ET.ParseError as exc:
                log.info("WS-Discovery: ignoring a reply from %s:%d that is not XML: %s", *sender, exc)
                continue
            for device in matches:
                known = found.get(device.endpoint_reference)
                found[device.endpoint_reference] = _merged(known, device) if known else device
    return list(found.values())
