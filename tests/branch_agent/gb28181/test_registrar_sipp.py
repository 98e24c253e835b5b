"""The registrar against SIPp playing the camera, over UDP and TCP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from branch_agent.gb28181.devices import DeviceTable, GbPlatformConfig, Transport
from branch_agent.gb28181.registrar import Registrar
from tests.peers.sipp_peer import MISSING_REASON, SIPP, SippCamera, run_sipp

pytestmark = pytest.mark.skipif(SIPP is None, reason=MISSING_REASON)

SERVER_ID = "34020000002000000001"
DOMAIN = "3402000000"
CAMERA = "34020000001320000264"
PASSWORD = "Cam#2026pass"
# A generous deadline for state changes; it bounds a hang, it is not a performance claim.
DEADLINE_S = 30.0


def config(**overrides: object) -> GbPlatformConfig:
    values: dict[str, object] = dict(
        server_id=SERVER_ID, domain=DOMAIN, host="127.0.0.1", port=0, passwords={CAMERA: PASSWORD}
    )
    values.update(overrides)
    return GbPlatformConfig(**values)  # type: ignore[arg-type]


def camera(transport: str, password: str = PASSWORD) -> SippCamera:
    return SippCamera(CAMERA, SERVER_ID, DOMAIN, password, transport)


async def with_registrar(cfg: GbPlatformConfig, body):  # type: ignore[no-untyped-def]
    registrar = Registrar(cfg)
    await registrar.start()
    try:
        return await body(registrar)
    finally:
        await registrar.stop()


@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.parametrize("qop", [True, False], ids=["qop-auth", "no-qop"])
def test_camera_registers_with_digest(tmp_path: Path, transport: str, qop: bool) -> None:
    async def body(registrar: Registrar) -> None:
        result = await run_sipp("register", camera(transport), registrar.port, tmp_path)
        assert result.ok, result.explain()
        # SIPp checked the Date form; its log shows what the camera would set its clock to.
        assert re.search(r"Date= *\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3} Expires= *3600$", result.log, re.M), result.log
        record = registrar.devices.get(CAMERA)
        assert record is not None and record.online
        assert record.transport is Transport[transport.upper()]
        assert record.address[0] == "127.0.0.1"
        assert record.contact.startswith(f"sip:{CAMERA}@127.0.0.1:")
        assert record.expires_s == 3600

    asyncio.run(with_registrar(config(digest_qop=qop), body))


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_wrong_password_is_refused_with_403(tmp_path: Path, transport: str) -> None:
    async def body(registrar: Registrar) -> None:
        result = await run_sipp(
            "register_wrong_password", camera(transport, "not-the-password"), registrar.port, tmp_path
        )
        assert result.ok, result.explain()
        assert registrar.devices.get(CAMERA) is None

    asyncio.run(with_registrar(config(), body))


def test_unknown_device_is_refused_with_403(tmp_path: Path) -> None:
    # Same scenario: the device is not in the password list and there is no default password.
    async def body(registrar: Registrar) -> None:
        other = SippCamera("34020000001320000999", SERVER_ID, DOMAIN, PASSWORD, "udp")
        result = await run_sipp("register_wrong_password", other, registrar.port, tmp_path)
        # The platform refuses before challenging, so SIPp sees 403 where it expected 401.
        assert not result.ok
        assert "403" in result.errors or "403" in result.output
        assert registrar.devices.snapshot() == []

    asyncio.run(with_registrar(config(), body))


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_expires_zero_unregisters(tmp_path: Path, transport: str) -> None:
    async def body(registrar: Registrar) -> None:
        result = await run_sipp("register_unregister", camera(transport), registrar.port, tmp_path)
        assert result.ok, result.explain()
        record = registrar.devices.get(CAMERA)
        assert record is not None
        assert not record.online
        assert record.offline_reason == "unregistered"

    asyncio.run(with_registrar(config(), body))


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_keepalive_is_answered_then_silence_marks_device_offline(tmp_path: Path, transport: str) -> None:
    async def body(registrar: Registrar) -> None:
        result = await run_sipp("register_keepalive", camera(transport), registrar.port, tmp_path)
        assert result.ok, result.explain()
        record = registrar.devices.get(CAMERA)
        assert record is not None and record.last_keepalive is not None

        def offline(table: DeviceTable) -> bool:
            rec = table.get(CAMERA)
            return rec is not None and not rec.online

        await registrar.wait_for(offline, DEADLINE_S)
        gone = registrar.devices.get(CAMERA)
        assert gone is not None and gone.offline_reason == "3 keepalives missed"

    # A short interval so three misses happen within the test; the rule is the same at 60 s.
    asyncio.run(with_registrar(config(keepalive_interval_s=0.5), body))


def test_default_password_admits_any_valid_device(tmp_path: Path) -> None:
    async def body(registrar: Registrar) -> None:
        other = SippCamera("34020000001310000007", SERVER_ID, DOMAIN, "shared-access", "udp")
        result = await run_sipp("register", other, registrar.port, tmp_path)
        assert result.ok, result.explain()
        assert [r.device_id for r in registrar.devices.snapshot()] == ["34020000001310000007"]

    asyncio.run(with_registrar(config(passwords={}, default_password="shared-access"), body))
