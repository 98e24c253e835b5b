"""SIPp as the camera and a second SIPp as the attacker on the branch LAN: a keepalive in the
camera's name from another address, port or connection (keepalive_spoof.xml) and a replay of
the camera's captured Authorization header (register_replay.xml) must both be refused, and the
camera stays registered where it authenticated. Loopback: the camera on 127.0.0.1, the attacker
on 127.0.0.2 or on another port / connection of 127.0.0.1."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from branch_agent.gb28181.devices import DeviceRecord, DeviceTable, GbPlatformConfig
from branch_agent.gb28181.registrar import Registrar
from tests.peers.sipp_peer import MISSING_REASON, SIPP, SippCamera, run_sipp, start_sipp

pytestmark = pytest.mark.skipif(SIPP is None, reason=MISSING_REASON)

SERVER_ID = "34020000002000000001"
DOMAIN = "3402000000"
CAMERA = "34020000001320000264"
PASSWORD = "Cam#2026pass"
DEADLINE_S = 20.0


def camera(transport: str, local_ip: str = "127.0.0.1") -> SippCamera:
    return SippCamera(CAMERA, SERVER_ID, DOMAIN, PASSWORD, transport, local_ip)


def registered(table: DeviceTable) -> bool:
    record = table.get(CAMERA)
    return record is not None and record.online


def current(registrar: Registrar) -> DeviceRecord:
    record = registrar.devices.get(CAMERA)
    assert record is not None
    return record


@pytest.mark.parametrize(
    ("transport", "attacker_ip"),
    [("udp", "127.0.0.2"), ("udp", "127.0.0.1"), ("tcp", "127.0.0.2"), ("tcp", "127.0.0.1")],
    ids=["udp-other-host", "udp-other-port", "tcp-other-host", "tcp-other-connection"],
)
def test_spoofed_keepalive_is_refused_and_the_camera_stays_put(
    tmp_path: Path, transport: str, attacker_ip: str
) -> None:
    async def body() -> None:
        registrar = Registrar(
            GbPlatformConfig(server_id=SERVER_ID, domain=DOMAIN, host="127.0.0.1", port=0, passwords={CAMERA: PASSWORD})
        )
        await registrar.start()
        # The camera registers and stays up (its TCP connection open) while the attacker acts.
        legit = await start_sipp("register_and_serve", camera(transport), registrar.port, tmp_path, DEADLINE_S)
        try:
            await registrar.wait_for(registered, DEADLINE_S)
            before = current(registrar)
            attack = await run_sipp("keepalive_spoof", camera(transport, attacker_ip), registrar.port, tmp_path)
            assert attack.ok, attack.explain()
            after = current(registrar)
            assert (after.transport, after.address, after.connection) == (
                before.transport,
                before.address,
                before.connection,
            )
            assert after.address[0] == "127.0.0.1"
            # Not taken as a sign of life either.
            assert after.last_keepalive is None and after.last_seen == before.last_seen
        finally:
            legit.kill()
            await legit.finish()
            await registrar.stop()

    asyncio.run(body())


@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.parametrize("qop", [True, False], ids=["qop-auth", "no-qop"])
def test_replayed_register_from_another_host_is_challenged(tmp_path: Path, transport: str, qop: bool) -> None:
    async def body() -> None:
        registrar = Registrar(
            GbPlatformConfig(
                server_id=SERVER_ID,
                domain=DOMAIN,
                host="127.0.0.1",
                port=0,
                passwords={CAMERA: PASSWORD},
                digest_qop=qop,
            )
        )
        await registrar.start()
        try:
            legit = await start_sipp("register", camera(transport), registrar.port, tmp_path, DEADLINE_S)
            result = await legit.finish()
            assert result.ok, result.explain()
            # What a sniffer on the LAN saw: the camera's Authorization header.
            captured = re.search(r"^Authorization: *(Digest .+?)\s*$", legit.messages, re.M)
            assert captured, legit.messages[-3000:]
            before = current(registrar)
            attack = await run_sipp(
                "register_replay",
                camera(transport, "127.0.0.2"),
                registrar.port,
                tmp_path,
                keys={"auth": captured.group(1)},
            )
            assert attack.ok, attack.explain()
            assert "replay challenged: nonce=" in attack.log
            after = current(registrar)
            assert after.address == before.address and after.address[0] == "127.0.0.1"
            assert after.registered_at == before.registered_at
        finally:
            await registrar.stop()

    asyncio.run(body())
