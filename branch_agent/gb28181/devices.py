"""The platform's settings and its table of registered GB/T 28181 devices."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace

from branch_agent.gb28181.gb_ids import InvalidGbId, parse_domain, parse_gb_id


@dataclass(frozen=True)
class GbPlatformConfig:
    """What a camera is configured with to register here: server ID, domain, address, password.

    ``passwords`` maps device IDs to their own password; ``default_password`` is the single
    access password most deployments give every camera. A device with neither is refused.
    """

    server_id: str
    domain: str
    host: str = "0.0.0.0"
    port: int = 5060
    # SIP transports listened on: both by default; a site may allow only one.
    transports: tuple[str, ...] = ("udp", "tcp")
    passwords: dict[str, str] = field(default_factory=dict, repr=False)
    default_password: str | None = field(default=None, repr=False)
    # Asking for qop=auth is stronger; some old cameras only answer the RFC 2069 form.
    digest_qop: bool = True
    nonce_lifetime_s: float = 300.0
    max_expires_s: int = 3600
    min_expires_s: int = 60
    # GB/T 28181-2016 9.6: keepalive every 60 s by default, offline after 3 missed.
    keepalive_interval_s: float = 60.0
    keepalive_misses: int = 3
    # SIP over TCP: open connections in all and from one address, how long one may stay silent
    # (None: one keepalive interval past the misses that take a device offline), how long one
    # message may take to arrive once begun; and the largest message taken over UDP or TCP.
    tcp_max_connections: int = 256
    tcp_max_connections_per_peer: int = 16
    tcp_idle_timeout_s: float | None = None
    sip_message_timeout_s: float = 30.0
    max_message_bytes: int = 256 * 1024

    def __post_init__(self) -> None:
        server = parse_gb_id(self.server_id, "server ID")
        if not server.is_platform:
            raise InvalidGbId(f"server ID {self.server_id} has type code {server.type_code}; a platform's is 200–299")
        parse_domain(self.domain, "SIP domain")
        for device_id in self.passwords:
            parse_gb_id(device_id, "device ID in passwords")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"SIP port must be 0–65535, got {self.port}")
        if not self.transports or not set(self.transports) <= {"udp", "tcp"}:
            raise ValueError(f"SIP transports are udp and/or tcp, got {self.transports}")
        if not 0 < self.min_expires_s <= self.max_expires_s:
            raise ValueError("need 0 < min_expires_s <= max_expires_s")
        if self.keepalive_interval_s <= 0 or self.keepalive_misses < 1:
            raise ValueError("keepalive interval must be positive and misses at least 1")
        if self.tcp_max_connections < 1 or self.tcp_max_connections_per_peer < 1:
            raise ValueError("TCP connection caps must be at least 1")
        if (self.tcp_idle_timeout_s is not None and self.tcp_idle_timeout_s <= 0) or self.sip_message_timeout_s <= 0:
            raise ValueError("TCP idle and message timeouts must be positive")
        if not 1024 <= self.max_message_bytes <= 16 * 1024 * 1024:
            raise ValueError(f"max_message_bytes must be 1 KiB-16 MiB, got {self.max_message_bytes}")

    @property
    def tcp_idle_s(self) -> float:
        if self.tcp_idle_timeout_s is not None:
            return self.tcp_idle_timeout_s
        return self.keepalive_interval_s * (self.keepalive_misses + 1)

    def password_for(self, device_id: str) -> str | None:
        return self.passwords.get(device_id, self.default_password)


UNREGISTERED = "unregistered"
REGISTRATION_EXPIRED = "registration expired"


class Transport(enum.Enum):
    UDP = "UDP"
    TCP = "TCP"


@dataclass(frozen=True)
class Origin:
    """Where a SIP message came from: over UDP the source address and port, over TCP the
    connection (its number; the address alone would also name a later connection from it)."""

    transport: Transport
    address: tuple[str, int]
    connection: int = 0  # 0 for UDP

    def __str__(self) -> str:
        text = f"{self.address[0]}:{self.address[1]} over {self.transport.value}"
        return f"{text} (connection {self.connection})" if self.connection else text


@dataclass(frozen=True)
class Channel:
    """One video channel from a device's Catalog (GB/T 28181-2016 A.2.6.4 ``<Item>``).

    An IPC usually reports itself as its only channel; an NVR one per connected camera. The
    channel ID is what an INVITE addresses.
    """

    channel_id: str
    name: str = ""
    manufacturer: str = ""
    model: str = ""
    # "ON"/"OFF" as the device says it (some send "ONLINE"/"OFFLINE"); ``online`` reads both.
    status: str = ""
    parent_id: str = ""
    address: str = ""
    civil_code: str = ""
    # Any other <Item> children (Owner, Longitude, PTZType, …) as the device sent them.
    extra: tuple[tuple[str, str], ...] = ()

    @property
    def online(self) -> bool:
        return self.status.strip().upper() in ("ON", "ONLINE", "OK")


@dataclass(frozen=True)
class DeviceRecord:
    device_id: str
    transport: Transport
    # Where the packets came from (what we send to, NAT included), and what the camera claims.
    address: tuple[str, int]
    contact: str
    expires_s: int
    registered_at: float
    last_seen: float
    online: bool
    user_agent: str = ""
    last_keepalive: float | None = None
    offline_reason: str = ""
    # From the last Catalog answer; kept across re-registration until the next Catalog.
    channels: tuple[Channel, ...] = ()
    # Catalog items whose DeviceID is not a valid 20-digit ID, with the reason (not usable).
    invalid_channels: tuple[tuple[str, str], ...] = ()
    catalog_complete: bool = False
    # The TCP connection the device registered on (0 for UDP): its MESSAGEs must come on it.
    connection: int = 0

    @property
    def origin(self) -> Origin:
        """Where the device authenticated: the only place its MESSAGEs are taken from."""
        return Origin(self.transport, self.address, self.connection)


class DeviceTable:
    """In-memory registrations, keyed by device ID; times are the registrar's monotonic clock."""

    def __init__(self) -> None:
        self._devices: dict[str, DeviceRecord] = {}

    def register(
        self,
        device_id: str,
        transport: Transport,
        address: tuple[str, int],
        contact: str,
        expires_s: int,
        now: float,
        user_agent: str = "",
        connection: int = 0,
    ) -> DeviceRecord:
        previous = self._devices.get(device_id)
        record = DeviceRecord(
            device_id=device_id,
            transport=transport,
            address=address,
            contact=contact,
            expires_s=expires_s,
            registered_at=now,
            last_seen=now,
            online=True,
            user_agent=user_agent,
            channels=previous.channels if previous else (),
            invalid_channels=previous.invalid_channels if previous else (),
            catalog_complete=previous.catalog_complete if previous else False,
            connection=connection,
        )
        self._devices[device_id] = record
        return record

    def unregister(self, device_id: str, reason: str) -> DeviceRecord | None:
        return self._set_offline(device_id, reason)

    def keepalive(self, device_id: str, now: float) -> DeviceRecord | None:
        """Refresh a registered device; None if its registration is gone and it must register again.

        A device that merely missed keepalives (a network outage) comes back online here, so a
        camera that returns mid-recording is used again without waiting for its next REGISTER.
        The address stays the registered one: the caller has checked the keepalive came from it,
        and only an authenticated REGISTER moves a device.
        """
        record = self.registered(device_id, now)
        if record is None:
            return None
        record = replace(record, last_seen=now, last_keepalive=now, online=True, offline_reason="")
        self._devices[device_id] = record
        return record

    def expire(self, now: float, keepalive_interval_s: float, misses: int) -> list[DeviceRecord]:
        """Mark offline every device whose registration lapsed or whose keepalives stopped."""
        gone: list[DeviceRecord] = []
        for record in list(self._devices.values()):
            if not record.online:
                continue
            reason = ""
            if now - record.registered_at > record.expires_s:
                reason = REGISTRATION_EXPIRED
            elif now - record.last_seen > keepalive_interval_s * misses:
                reason = f"{misses} keepalives missed"
            if reason:
                updated = self._set_offline(record.device_id, reason)
                assert updated is not None
                gone.append(updated)
        return gone

    def set_channels(
        self,
        device_id: str,
        channels: tuple[Channel, ...],
        invalid: tuple[tuple[str, str], ...] = (),
        complete: bool = True,
    ) -> DeviceRecord | None:
        record = self._devices.get(device_id)
        if record is None:
            return None
        record = replace(record, channels=channels, invalid_channels=invalid, catalog_complete=complete)
        self._devices[device_id] = record
        return record

    def _set_offline(self, device_id: str, reason: str) -> DeviceRecord | None:
        record = self._devices.get(device_id)
        if record is None:
            return None
        record = replace(record, online=False, offline_reason=reason)
        self._devices[device_id] = record
        return record

    def get(self, device_id: str) -> DeviceRecord | None:
        return self._devices.get(device_id)

    def registered(self, device_id: str, now: float) -> DeviceRecord | None:
        """The device's record while its registration stands (not unregistered, not lapsed)."""
        record = self._devices.get(device_id)
        if record is None or record.offline_reason in (UNREGISTERED, REGISTRATION_EXPIRED):
            return None
        if now - record.registered_at > record.expires_s:
            return None
        return record

    def snapshot(self) -> list[DeviceRecord]:
        return sorted(self._devices.values(), key=lambda r: r.device_id)
