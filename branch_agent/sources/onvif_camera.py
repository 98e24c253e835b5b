"""An ONVIF camera's identity, clock, video profiles and their RTSP and snapshot URIs.

The public API is synchronous because the agent calls it from its own threads; each call runs the
async client in a private event loop. The camera's clock is read first (GetSystemDateAndTime: ONVIF
lets anyone call it; devices that insist on credentials for it are asked with them), so that the
authentication tokens of the following requests carry the camera's time.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from branch_agent.sources.onvif_clock import CameraClockError, CameraDateTime, camera_utc
from branch_agent.sources.onvif_connection import Auth, DeviceConnection, connect
from branch_agent.sources.onvif_endpoint import OnvifEndpoint, OnvifError, OnvifFault, OnvifUnreachable
from branch_agent.sources.onvif_profiles import OnvifProfile, StreamChoice, pick_profile
from branch_agent.sources.stream_urls import redact_url, without_userinfo

log = logging.getLogger(__name__)


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


def _date_time(value: Any) -> CameraDateTime | None:
    if value is None or value.Date is None or value.Time is None:
        return None
    return CameraDateTime(
        value.Date.Year, value.Date.Month, value.Date.Day, value.Time.Hour, value.Time.Minute, value.Time.Second
    )


async def _read_clock(endpoint: OnvifEndpoint) -> tuple[datetime, timedelta]:
    """The camera's UTC now and its offset from the host's (camera minus host)."""
    ways = [Auth.ANONYMOUS] + ([Auth.DIGEST, Auth.TEXT] if endpoint.username else [])
    # Tokens for this first request are stamped with host time: the camera's is not known yet.
    connection, answer = await connect(endpoint, ways, timedelta(0), "GetSystemDateAndTime")
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


async def _stream_uri(connection: DeviceConnection, token: str) -> str:
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


async def _snapshot_uri(connection: DeviceConnection, token: str) -> str | None:
    # Optional: a camera that answers this badly still has a picture to record.
    try:
        answer = await connection.call("media", "GetSnapshotUri", {"ProfileToken": token})
    except (OnvifFault, OnvifUnreachable) as exc:
        log.info("no snapshot URI for profile %r: %s", token, exc)
        return None
    uri = _text(answer.result.Uri)
    return without_userinfo(uri) if uri else None


async def _read_profiles(connection: DeviceConnection, with_uris: bool = True) -> list[OnvifProfile]:
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
    ways = [Auth.DIGEST, Auth.TEXT] if endpoint.username else [Auth.ANONYMOUS]
    connection, info = await connect(endpoint, ways, offset, "GetDeviceInformation")
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
    manufacturer: str = ""
    model: str = ""
    firmware: str = ""


async def _resolve_stream(endpoint: OnvifEndpoint, want: StreamChoice) -> OnvifStream:
    _, offset = await _read_clock(endpoint)
    ways = [Auth.DIGEST, Auth.TEXT] if endpoint.username else [Auth.ANONYMOUS]
    connection, info = await connect(endpoint, ways, offset, "GetDeviceInformation")
    try:
        profiles = await _read_profiles(connection, with_uris=False)
        chosen = pick_profile(profiles, want, device=endpoint.address)
        uri = await _stream_uri(connection, chosen.token)
    finally:
        await connection.close()
    return OnvifStream(
        profile=dataclasses.replace(chosen, stream_uri=uri),
        clock_offset_s=offset.total_seconds(),
        manufacturer=_text(info.result.Manufacturer),
        model=_text(info.result.Model),
        firmware=_text(info.result.FirmwareVersion),
    )


def resolve_stream(endpoint: OnvifEndpoint, want: StreamChoice) -> OnvifStream:
    """What a recorder connects to: only the chosen profile's stream URI is asked for.

    Blocking; called at every (re)connection, so it asks the camera as little as it can."""
    return asyncio.run(_resolve_stream(endpoint, want))
