"""ONVIF camera access: identity, clock, video profiles and their RTSP and snapshot URIs.

Built on onvif-zeep-async (SOAP from the ONVIF WSDLs). The public API is synchronous because the
agent calls it from its own threads; each call runs the async client in a private event loop.

Authentication is WS-UsernameToken. PasswordDigest comes first; a device that refuses it is asked
once more with PasswordText (some firmwares only accept text), and that switch is logged. A digest
carries its creation time and devices refuse digests too far from their own clock, so tokens are
stamped with the camera's clock: GetSystemDateAndTime is read first (ONVIF lets anyone call it;
devices that insist on credentials for it are asked with them) and its offset is applied.

Passwords never appear in a log line, an exception message or a repr.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Any, Literal

import aiohttp
import requests
import zeep.exceptions
from requests.auth import AuthBase, HTTPBasicAuth, HTTPDigestAuth

from branch_agent.sources.onvif_clock import CameraClockError, CameraDateTime, camera_utc
from branch_agent.sources.stream_urls import redact_url, without_userinfo

log = logging.getLogger(__name__)

# Encodings the recorder can take as the background or face camera.
RECORDABLE_ENCODINGS = frozenset({"H264", "H265", "HEVC"})


class OnvifError(Exception):
    """Talking to an ONVIF device failed; the message names the device as host:port."""


class OnvifAuthError(OnvifError):
    """The device refused the username/password (or needs credentials and none are configured)."""


class OnvifUnreachable(OnvifError):
    """No ONVIF device service answers at the address: refused, timed out, unknown host, not ONVIF."""


class OnvifFault(OnvifError):
    """The device answered an operation with a SOAP fault other than an authentication refusal."""


class OnvifNoProfile(OnvifError):
    """No media profile of the device matches what was asked for; the message lists what it has."""


@dataclass(frozen=True)
class OnvifEndpoint:
    host: str
    port: int = 80
    username: str = ""
    password: str = field(default="", repr=False)
    timeout_s: float = 5.0

    def __post_init__(self) -> None:
        if not self.host.strip():
            raise ValueError("ONVIF endpoint host must not be empty")
        if not 1 <= self.port <= 65535:
            raise ValueError(f"ONVIF endpoint port must be 1..65535, got {self.port}")
        if not self.timeout_s > 0:
            raise ValueError(f"ONVIF endpoint timeout must be > 0 s, got {self.timeout_s}")

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host and not self.host.startswith("[") else self.host
        return f"{host}:{self.port}"

    @property
    def device_service_url(self) -> str:
        return f"http://{self.address}/onvif/device_service"


@dataclass(frozen=True)
class OnvifProfile:
    token: str
    name: str
    encoding: str
    width: int
    height: int
    fps: float | None
    stream_uri: str
    snapshot_uri: str | None

    def describe(self) -> str:
        rate = f"@{self.fps:g}" if self.fps else ""
        return f"{self.name or self.token} ({self.token}) {self.encoding} {self.width}x{self.height}{rate}"


@dataclass(frozen=True)
class OnvifDevice:
    manufacturer: str
    model: str
    firmware_version: str
    serial_number: str
    hardware_id: str
    clock_offset_s: float  # camera UTC minus host UTC
    camera_utc: datetime
    profiles: list[OnvifProfile]


class _Auth(Enum):
    ANONYMOUS = "no credentials"
    DIGEST = "PasswordDigest"
    TEXT = "PasswordText"


_Service = Literal["devicemgmt", "media"]


@dataclass(frozen=True)
class _Answer:
    result: Any
    sent_at: datetime
    received_at: datetime


def _utcnow() -> datetime:
    return datetime.now(UTC)


_WSSE_SECRET = re.compile(r"(<(?:[\w.-]+:)?(?:Password|Nonce)\b[^>]*>)[^<]*(<)")
# Loggers of onvif-zeep-async and zeep that write whole SOAP requests at DEBUG.
_ENVELOPE_LOGGERS = ("onvif.zeep_aiohttp", "zeep.transports")


class _RedactUsernameTokens(logging.Filter):
    """Masks WS-Security Password and Nonce values in logged SOAP envelopes: a PasswordText token
    is the password itself, and a digest with its nonce can be brute-forced offline."""

    @staticmethod
    def _redacted(value: object) -> object:
        if isinstance(value, bytes):
            return _WSSE_SECRET.sub(r"\1***\2", value.decode("utf-8", "replace"))
        if isinstance(value, str):
            return _WSSE_SECRET.sub(r"\1***\2", value)
        return value

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._redacted(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(self._redacted(arg) for arg in record.args)
        return True


def _guard_library_logs() -> None:
    for name in _ENVELOPE_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _RedactUsernameTokens) for f in logger.filters):
            logger.addFilter(_RedactUsernameTokens())


def _is_auth_refusal(fault: zeep.exceptions.Fault) -> bool:
    # ONVIF says ter:NotAuthorized; WS-Security says wsse:FailedAuthentication; firmwares vary, and
    # some only put it in the reason text ("Sender not authorized").
    names = {str(code).rsplit("}", 1)[-1].rsplit(":", 1)[-1] for code in [fault.code, *(fault.subcodes or [])]}
    if names & {"NotAuthorized", "FailedAuthentication", "InvalidSecurity", "InvalidSecurityToken"}:
        return True
    return bool(re.search(r"not\s*authori[sz]ed|unauthori[sz]ed|authenticat", str(fault.message or ""), re.I))


class _DeviceConnection:
    """The device and media services of one device, under one way of authenticating."""

    def __init__(self, endpoint: OnvifEndpoint, auth: _Auth, clock_offset: timedelta) -> None:
        self.endpoint = endpoint
        self.auth = auth
        self.clock_offset = clock_offset
        self.media_xaddr: str | None = None
        self._services: dict[_Service, Any] = {}

    async def _service(self, name: _Service) -> Any:
        if name in self._services:
            return self._services[name]
        # Imported here, not at module import: onvif.client calls logging.basicConfig() when it is
        # first imported, which would otherwise pre-empt the agent's own logging setup.
        import onvif
        from onvif.definition import SERVICES

        _guard_library_logs()

        xaddr = self.endpoint.device_service_url if name == "devicemgmt" else self.media_xaddr
        if xaddr is None:
            raise OnvifError(f"ONVIF device {self.endpoint.address}: media service address not known yet")
        definition = SERVICES[name]
        try:
            service = self._new_service(onvif, xaddr, definition)
        except onvif.ONVIFError as exc:
            raise OnvifError(f"ONVIF device {self.endpoint.address}: cannot set up the {name} client: {exc}") from exc
        self._services[name] = service
        await service.setup()
        return service

    def _new_service(self, onvif: Any, xaddr: str, definition: dict[str, str]) -> Any:
        anonymous = self.auth is _Auth.ANONYMOUS
        return onvif.ONVIFService(
            xaddr,
            None if anonymous else self.endpoint.username,
            None if anonymous else self.endpoint.password,
            str(Path(onvif.__file__).parent / "wsdl" / definition["wsdl"]),
            encrypt=self.auth is _Auth.DIGEST,
            no_cache=True,  # the shared WSDL cache is an sqlite file and an asyncio.Lock bound to one loop
            dt_diff=self.clock_offset,
            binding_name=f"{{{definition['ns']}}}{definition['binding']}",
        )

    async def call(self, service_name: _Service, operation: str, params: dict[str, Any] | None = None) -> _Answer:
        from onvif.exceptions import ONVIFError  # imported late, as in _service()

        where = self.endpoint.address
        service = await self._service(service_name)
        method = getattr(service, operation if self.auth is not _Auth.ANONYMOUS else f"authless_{operation}")
        sent_at = _utcnow()
        try:
            async with asyncio.timeout(self.endpoint.timeout_s):
                result = await method(params)
        except ONVIFError as exc:
            # onvif-zeep-async's wrapper for a request it could not even build.
            raise OnvifError(f"ONVIF device {where}: cannot send {operation}: {exc}") from exc
        except TimeoutError as exc:
            raise OnvifUnreachable(
                f"ONVIF device {where} did not answer {operation} within {self.endpoint.timeout_s:g} s"
            ) from exc
        except zeep.exceptions.Fault as exc:
            if _is_auth_refusal(exc):
                raise self._refused(operation) from exc
            if exc.code is None:
                # zeep's word for an HTTP error whose body is XML but holds no SOAP Fault (a web page).
                raise OnvifUnreachable(
                    f"{service.xaddr} answered {operation} with an error and no SOAP fault: is {where} an ONVIF device?"
                ) from exc
            raise OnvifFault(f"ONVIF device {where} answered {operation} with a fault: {exc.message}") from exc
        except zeep.exceptions.TransportError as exc:
            if exc.status_code == 401:
                raise self._refused(operation) from exc
            raise OnvifUnreachable(
                f"{service.xaddr} answered {operation} with HTTP {exc.status_code} and no "
                f"ONVIF SOAP: is {where} an ONVIF device?"
            ) from exc
        except zeep.exceptions.Error as exc:
            raise OnvifUnreachable(
                f"ONVIF device {where} answered {operation} with something that is not ONVIF SOAP: {str(exc)[:300]}"
            ) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise OnvifUnreachable(f"cannot reach ONVIF device {where}: {exc}") from exc
        return _Answer(result, sent_at, _utcnow())

    def _refused(self, operation: str) -> OnvifAuthError:
        where = self.endpoint.address
        if self.auth is _Auth.ANONYMOUS:
            return OnvifAuthError(f"ONVIF device {where} requires credentials for {operation}")
        return OnvifAuthError(
            f"ONVIF device {where} refused the credentials for user {self.endpoint.username!r} "
            f"({self.auth.value}, {operation})"
        )

    async def close(self) -> None:
        for service in self._services.values():
            await service.close()
        self._services.clear()


async def _connect(
    endpoint: OnvifEndpoint, ways: list[_Auth], clock_offset: timedelta, operation: str
) -> tuple[_DeviceConnection, _Answer]:
    """Open a connection under the first way of authenticating that the device accepts for
    `operation` (a device-management operation without parameters), with that first answer."""
    refusal: OnvifAuthError | None = None
    for way in ways:
        if refusal is not None:
            log.info("%s; asking again with %s", refusal, way.value)
        connection = _DeviceConnection(endpoint, way, clock_offset)
        try:
            return connection, await connection.call("devicemgmt", operation)
        except OnvifAuthError as exc:
            refusal = exc
            await connection.close()
        except BaseException:
            await connection.close()
            raise
    if not endpoint.username:
        raise OnvifAuthError(f"ONVIF device {endpoint.address} requires credentials and none are configured")
    raise OnvifAuthError(f"ONVIF device {endpoint.address} refused the credentials for user {endpoint.username!r}")


def _date_time(value: Any) -> CameraDateTime | None:
    if value is None or value.Date is None or value.Time is None:
        return None
    return CameraDateTime(
        value.Date.Year, value.Date.Month, value.Date.Day, value.Time.Hour, value.Time.Minute, value.Time.Second
    )


async def _read_clock(endpoint: OnvifEndpoint) -> tuple[datetime, timedelta]:
    """The camera's UTC now and its offset from the host's (camera minus host)."""
    ways = [_Auth.ANONYMOUS] + ([_Auth.DIGEST, _Auth.TEXT] if endpoint.username else [])
    # Tokens for this first request are stamped with host time: the camera's is not known yet.
    connection, answer = await _connect(endpoint, ways, timedelta(0), "GetSystemDateAndTime")
    await connection.close()
    reported = answer.result
    tz = reported.TimeZone.TZ if reported.TimeZone is not None else None
    try:
        camera_now = camera_utc(
            _date_time(reported.UTCDateTime), _date_time(reported.LocalDateTime), tz, bool(reported.DaylightSavings)
        )
    except CameraClockError as exc:
        raise OnvifError(f"ONVIF device {endpoint.address}: {exc}") from exc
    host_midpoint = answer.sent_at + (answer.received_at - answer.sent_at) / 2
    # The camera reports whole seconds, i.e. on average half a second behind its own clock.
    return camera_now, camera_now + timedelta(seconds=0.5) - host_midpoint


def _text(value: Any) -> str:
    return "" if value is None else str(value)


async def _stream_uri(connection: _DeviceConnection, token: str) -> str:
    setup = {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}
    answer = await connection.call("media", "GetStreamUri", {"StreamSetup": setup, "ProfileToken": token})
    uri = _text(answer.result.Uri)
    if not uri.lower().startswith(("rtsp://", "rtsps://")):
        raise _NotRtsp(
            f"ONVIF device {connection.endpoint.address} gave profile {token!r} a stream URI that "
            f"is not RTSP: {redact_url(uri)}"
        )
    return without_userinfo(uri)


class _NotRtsp(OnvifError):
    pass


async def _snapshot_uri(connection: _DeviceConnection, token: str) -> str | None:
    # Optional: a camera that answers this badly still has a picture to record.
    try:
        answer = await connection.call("media", "GetSnapshotUri", {"ProfileToken": token})
    except (OnvifFault, OnvifUnreachable) as exc:
        log.info("no snapshot URI for profile %r: %s", token, exc)
        return None
    uri = _text(answer.result.Uri)
    return without_userinfo(uri) if uri else None


async def _read_profiles(connection: _DeviceConnection, with_uris: bool = True) -> list[OnvifProfile]:
    """The video profiles; ``with_uris=False`` leaves stream_uri empty (one call per profile saved)."""
    capabilities = await connection.call("devicemgmt", "GetCapabilities", {"Category": "Media"})
    media = capabilities.result.Media
    if media is None or not media.XAddr:
        raise OnvifError(f"ONVIF device {connection.endpoint.address} offers no media service")
    connection.media_xaddr = _text(media.XAddr)
    profiles: list[OnvifProfile] = []
    for profile in (await connection.call("media", "GetProfiles")).result or []:
        encoder = profile.VideoEncoderConfiguration
        if encoder is None or encoder.Resolution is None:
            log.info(
                "ONVIF device %s: profile %r has no video encoder; not a camera picture",
                connection.endpoint.address,
                profile.token,
            )
            continue
        rate = encoder.RateControl.FrameRateLimit if encoder.RateControl is not None else None
        stream_uri, snapshot_uri = "", None
        if with_uris:
            try:
                stream_uri = await _stream_uri(connection, profile.token)
            except _NotRtsp as exc:
                log.info("%s; profile left out", exc)
                continue
            snapshot_uri = await _snapshot_uri(connection, profile.token)
        profiles.append(
            OnvifProfile(
                token=_text(profile.token),
                name=_text(profile.Name),
                encoding=_text(encoder.Encoding),
                width=int(encoder.Resolution.Width),
                height=int(encoder.Resolution.Height),
                fps=float(rate) if rate else None,
                stream_uri=stream_uri,
                snapshot_uri=snapshot_uri,
            )
        )
    return profiles


async def _query_device(endpoint: OnvifEndpoint) -> OnvifDevice:
    camera_now, offset = await _read_clock(endpoint)
    ways = [_Auth.DIGEST, _Auth.TEXT] if endpoint.username else [_Auth.ANONYMOUS]
    connection, info = await _connect(endpoint, ways, offset, "GetDeviceInformation")
    try:
        profiles = await _read_profiles(connection)
    finally:
        await connection.close()
    return OnvifDevice(
        manufacturer=_text(info.result.Manufacturer),
        model=_text(info.result.Model),
        firmware_version=_text(info.result.FirmwareVersion),
        serial_number=_text(info.result.SerialNumber),
        hardware_id=_text(info.result.HardwareId),
        clock_offset_s=offset.total_seconds(),
        camera_utc=camera_now,
        profiles=profiles,
    )


def query_device(endpoint: OnvifEndpoint) -> OnvifDevice:
    """Identity, clock offset and video profiles (with stream and snapshot URIs) of one device.

    Blocking; call it from a worker thread, not from inside a running event loop."""
    return asyncio.run(_query_device(endpoint))


@dataclass(frozen=True)
class OnvifStream:
    """The profile chosen for recording, with its stream URI, and the camera's clock offset."""

    profile: OnvifProfile
    clock_offset_s: float


async def _resolve_stream(endpoint: OnvifEndpoint, want: Literal["main", "sub"] | tuple[int, int]) -> OnvifStream:
    _, offset = await _read_clock(endpoint)
    ways = [_Auth.DIGEST, _Auth.TEXT] if endpoint.username else [_Auth.ANONYMOUS]
    connection, _ = await _connect(endpoint, ways, offset, "GetDeviceInformation")
    try:
        profiles = await _read_profiles(connection, with_uris=False)
        chosen = pick_profile(profiles, want, device=endpoint.address)
        uri = await _stream_uri(connection, chosen.token)
    finally:
        await connection.close()
    return OnvifStream(profile=dataclasses.replace(chosen, stream_uri=uri), clock_offset_s=offset.total_seconds())


def resolve_stream(endpoint: OnvifEndpoint, want: Literal["main", "sub"] | tuple[int, int]) -> OnvifStream:
    """What a recorder connects to: only the chosen profile's stream URI is asked for.

    Blocking; called at every (re)connection, so it asks the camera as little as it can."""
    return asyncio.run(_resolve_stream(endpoint, want))


def _normalised_encoding(encoding: str) -> str:
    return encoding.upper().replace(".", "").replace("-", "")


def pick_profile(
    profiles: list[OnvifProfile], want: Literal["main", "sub"] | tuple[int, int], *, device: str = ""
) -> OnvifProfile:
    """main: the largest H.264/H.265 picture; sub: the smallest; (w, h): that size exactly, else the
    smallest that is at least as wide and as high. `device` (host:port) only names it in errors."""
    video = [p for p in profiles if _normalised_encoding(p.encoding) in RECORDABLE_ENCODINGS]
    by_size = sorted(video, key=lambda p: (p.width * p.height, p.fps or 0.0))
    chosen: OnvifProfile | None
    if want == "main" or want == "sub":
        chosen = (by_size[-1] if want == "main" else by_size[0]) if by_size else None
        wanted = f"{want} stream"
    elif isinstance(want, tuple) and len(want) == 2 and all(isinstance(v, int) and v > 0 for v in want):
        width, height = want
        exact = [p for p in by_size if (p.width, p.height) == (width, height)]
        big_enough = [p for p in by_size if p.width >= width and p.height >= height]
        candidates = exact or big_enough
        chosen = candidates[0] if candidates else None
        wanted = f"profile of at least {width}x{height}"
    else:
        raise ValueError(f"want must be 'main', 'sub' or (width, height), got {want!r}")
    if chosen is not None:
        return chosen
    has = "; ".join(p.describe() for p in profiles) or "no video profiles"
    subject = f"ONVIF device {device}" if device else "The ONVIF device"
    raise OnvifNoProfile(f"{subject} has no H.264/H.265 {wanted}; it has: {has}")


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
