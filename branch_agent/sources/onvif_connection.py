"""A SOAP connection to an ONVIF device's device and media services, authenticated as it accepts.

Built on onvif-zeep-async (SOAP from the ONVIF WSDLs); each call is bounded by the endpoint's
timeout, and every failure becomes an ``OnvifError`` that names the device.

Authentication is WS-UsernameToken. PasswordDigest comes first; a device that refuses it is asked
once more with PasswordText (some firmwares only accept text), and that switch is logged. A digest
carries its creation time and devices refuse digests too far from their own clock, so tokens are
stamped with the camera's clock offset, which the caller measures first.

Passwords never appear in a log line, an exception message or a repr.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Any, Literal

import aiohttp
import zeep.exceptions

from branch_agent.sources.onvif_endpoint import (
    OnvifAuthError,
    OnvifEndpoint,
    OnvifError,
    OnvifFault,
    OnvifUnreachable,
)

log = logging.getLogger(__name__)


class Auth(Enum):
    """A way of authenticating; its value names it in messages."""

    ANONYMOUS = "no credentials"
    DIGEST = "PasswordDigest"
    TEXT = "PasswordText"


_Service = Literal["devicemgmt", "media"]


@dataclass(frozen=True)
class Answer:
    """An operation's result, with when it was asked and answered (host clock), for clock offsets."""

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


class DeviceConnection:
    """The device and media services of one device, under one way of authenticating."""

    def __init__(self, endpoint: OnvifEndpoint, auth: Auth, clock_offset: timedelta) -> None:
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
        anonymous = self.auth is Auth.ANONYMOUS
        return onvif.ONVIFService(
            xaddr,
            None if anonymous else self.endpoint.username,
            None if anonymous else self.endpoint.password,
            str(Path(onvif.__file__).parent / "wsdl" / definition["wsdl"]),
            encrypt=self.auth is Auth.DIGEST,
            no_cache=True,  # the shared WSDL cache is an sqlite file and an asyncio.Lock bound to one loop
            dt_diff=self.clock_offset,
            binding_name=f"{{{definition['ns']}}}{definition['binding']}",
        )

    async def call(self, service_name: _Service, operation: str, params: dict[str, Any] | None = None) -> Answer:
        from onvif.exceptions import ONVIFError  # imported late, as in _service()

        where = self.endpoint.address
        service = await self._service(service_name)
        method = getattr(service, operation if self.auth is not Auth.ANONYMOUS else f"authless_{operation}")
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
        return Answer(result, sent_at, _utcnow())

    def _refused(self, operation: str) -> OnvifAuthError:
        where = self.endpoint.address
        if self.auth is Auth.ANONYMOUS:
            return OnvifAuthError(f"ONVIF device {where} requires credentials for {operation}")
        return OnvifAuthError(
            f"ONVIF device {where} refused the credentials for user {self.endpoint.username!r} "
            f"({self.auth.value}, {operation})"
        )

    async def close(self) -> None:
        for service in self._services.values():
            await service.close()
        self._services.clear()


async def connect(
    endpoint: OnvifEndpoint, ways: list[Auth], clock_offset: timedelta, operation: str
) -> tuple[DeviceConnection, Answer]:
    """Open a connection under the first way of authenticating that the device accepts for
    `operation` (a device-management operation without parameters), with that first answer."""
    refusal: OnvifAuthError | None = None
    for way in ways:
        if refusal is not None:
            log.info("%s; asking again with %s", refusal, way.value)
        connection = DeviceConnection(endpoint, way, clock_offset)
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
