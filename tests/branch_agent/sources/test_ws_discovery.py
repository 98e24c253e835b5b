"""WS-Discovery probes against a real camera (ipycam answers unicast probes) and spec-shaped replies."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from branch_agent.sources.onvif_camera import query_device
from branch_agent.sources.onvif_endpoint import OnvifEndpoint
from branch_agent.sources.ws_discovery import DiscoveredDevice, discover, parse_probe_matches, probe_message
from tests.peers.onvif_simulator import SimulatedCamera, free_port, running_ipycam

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def camera(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatedCamera]:
    with running_ipycam(tmp_path_factory.mktemp("ipycam")) as running:
        yield running


def test_probe_finds_the_camera_once_with_its_device_service(camera: SimulatedCamera) -> None:
    found = discover(timeout_s=1.5, address="127.0.0.1", port=camera.discovery_port)
    # The Probe is sent twice (SOAP-over-UDP repeat) and the camera answers both: one device.
    assert len(found) == 1
    device = found[0]
    assert device.endpoint_reference.startswith("urn:uuid:")
    assert device.xaddrs == [f"http://127.0.0.1:{camera.onvif_port}/onvif/device_service"]
    assert "dn:NetworkVideoTransmitter" in device.types
    assert device.name == "BranchTestCamera"
    assert "onvif://www.onvif.org/Profile/Streaming" in device.scopes


def test_discovered_address_leads_to_the_device(camera: SimulatedCamera) -> None:
    (device,) = discover(timeout_s=1.5, address="127.0.0.1", port=camera.discovery_port)
    host_port = device.xaddrs[0].split("/")[2]
    host, port = host_port.rsplit(":", 1)
    info = query_device(OnvifEndpoint(host, int(port), camera.username, camera.password))
    assert info.manufacturer == "IPyCam"


def test_probe_nobody_answers_returns_nothing_after_the_timeout() -> None:
    started = time.monotonic()
    assert discover(timeout_s=0.5, address="127.0.0.1", port=free_port(socket.SOCK_DGRAM)) == []
    elapsed = time.monotonic() - started
    assert 0.5 <= elapsed < 10


def test_probe_is_a_ws_discovery_probe_for_network_video_transmitters() -> None:
    root = ET.fromstring(probe_message("urn:uuid:1"))
    ns = {
        "s": "http://www.w3.org/2003/05/soap-envelope",
        "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
        "d": "http://schemas.xmlsoap.org/ws/2005/04/discovery",
    }
    assert root.findtext("s:Header/a:Action", namespaces=ns) == "http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe"
    assert root.findtext("s:Header/a:MessageID", namespaces=ns) == "urn:uuid:1"
    assert root.findtext("s:Header/a:To", namespaces=ns) == "urn:schemas-xmlsoap-org:ws:2005:04:discovery"
    assert root.findtext("s:Body/d:Probe/d:Types", namespaces=ns) == "dn:NetworkVideoTransmitter"


# Shaped like the ProbeMatches of the WS-Discovery specification (section 5.3), with the prefixes a
# camera firmware might choose, two matches in one message and a scope with a percent-encoded name.
PROBE_MATCHES = b"""<?xml version="1.0" encoding="UTF-8"?>
<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope"
    xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing"
    xmlns:wsdd="http://schemas.xmlsoap.org/ws/2005/04/discovery"
    xmlns:tdn="http://www.onvif.org/ver10/network/wsdl" xmlns:tds="http://www.onvif.org/ver10/device/wsdl">
  <SOAP-ENV:Header>
    <wsa:MessageID>uuid:e32e6863-ea5e-4ee4-997e-69539d1ff2cc</wsa:MessageID>
    <wsa:RelatesTo>urn:uuid:0a6dc791-2be6-4991-9af1-454778a1917a</wsa:RelatesTo>
    <wsa:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsa:To>
    <wsa:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches</wsa:Action>
    <wsdd:AppSequence InstanceId="1077004800" MessageNumber="2"/>
  </SOAP-ENV:Header>
  <SOAP-ENV:Body>
    <wsdd:ProbeMatches>
      <wsdd:ProbeMatch>
        <wsa:EndpointReference><wsa:Address>urn:uuid:98190dc2-0890-4ef8-ac9a-5940995e6119</wsa:Address></wsa:EndpointReference>
        <wsdd:Types>tdn:NetworkVideoTransmitter tds:Device</wsdd:Types>
        <wsdd:Scopes>
          onvif://www.onvif.org/type/video_encoder onvif://www.onvif.org/name/Lobby%20Camera
          onvif://www.onvif.org/hardware/DS-2CD2143G2-I onvif://www.onvif.org/location/city/Shanghai
        </wsdd:Scopes>
        <wsdd:XAddrs>http://192.0.2.10/onvif/device_service http://[2001:db8::10]/onvif/device_service</wsdd:XAddrs>
        <wsdd:MetadataVersion>10</wsdd:MetadataVersion>
      </wsdd:ProbeMatch>
      <wsdd:ProbeMatch>
        <wsa:EndpointReference><wsa:Address>urn:uuid:5b1e3a40-0000-4000-8000-00000000beef</wsa:Address></wsa:EndpointReference>
        <wsdd:Types>tdn:NetworkVideoTransmitter</wsdd:Types>
        <wsdd:Scopes>onvif://www.onvif.org/type/video_encoder</wsdd:Scopes>
        <wsdd:XAddrs>http://192.0.2.11:8080/onvif/device_service</wsdd:XAddrs>
        <wsdd:MetadataVersion>1</wsdd:MetadataVersion>
      </wsdd:ProbeMatch>
    </wsdd:ProbeMatches>
  </SOAP-ENV:Body>
</SOAP-ENV:Envelope>
"""


def test_probe_matches_are_read_whatever_the_prefixes() -> None:
    first, second = parse_probe_matches(PROBE_MATCHES, "urn:uuid:0a6dc791-2be6-4991-9af1-454778a1917a")
    assert first == DiscoveredDevice(
        endpoint_reference="urn:uuid:98190dc2-0890-4ef8-ac9a-5940995e6119",
        xaddrs=["http://192.0.2.10/onvif/device_service", "http://[2001:db8::10]/onvif/device_service"],
        scopes=[
            "onvif://www.onvif.org/type/video_encoder",
            "onvif://www.onvif.org/name/Lobby%20Camera",
            "onvif://www.onvif.org/hardware/DS-2CD2143G2-I",
            "onvif://www.onvif.org/location/city/Shanghai",
        ],
        types=["tdn:NetworkVideoTransmitter", "tds:Device"],
    )
    assert (first.name, first.hardware) == ("Lobby Camera", "DS-2CD2143G2-I")
    assert (second.name, second.hardware, second.xaddrs) == (
        None,
        None,
        ["http://192.0.2.11:8080/onvif/device_service"],
    )


def test_replies_to_another_probe_and_non_xml_are_told_apart() -> None:
    assert parse_probe_matches(PROBE_MATCHES, "urn:uuid:someone-elses-probe") == []
    with pytest.raises(ET.ParseError):
        parse_probe_matches(b"M-SEARCH * HTTP/1.1\r\n\r\n", "urn:uuid:1")


def test_discover_rejects_nonsense_arguments() -> None:
    with pytest.raises(ValueError, match="timeout"):
        discover(timeout_s=0)
    with pytest.raises(ValueError, match="port"):
        discover(address="127.0.0.1", port=70000)


def test_discover_command_lists_the_camera_with_its_profiles(camera: SimulatedCamera) -> None:
    command = [
        sys.executable,
        "-m",
        "branch_agent",
        "cameras",
        "discover",
        "--address",
        "127.0.0.1",
        "--port",
        str(camera.discovery_port),
        "--timeout",
        "1.5",
        "--user",
        camera.username,
        "--password-env",
        "ONVIF_TEST_PW",
    ]
    out = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={**os.environ, "ONVIF_TEST_PW": camera.password},
    )
    assert out.returncode == 0, out.stderr
    assert f"service: http://127.0.0.1:{camera.onvif_port}/onvif/device_service" in out.stdout
    assert "device: IPyCam" in out.stdout
    assert " profile " in out.stdout and "rtsp://" in out.stdout
    assert camera.password not in out.stdout

    wrong = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={**os.environ, "ONVIF_TEST_PW": camera.password + "-wrong"},
    )
    assert wrong.returncode == 1
    assert (
        f"error: ONVIF device 127.0.0.1:{camera.onvif_port} refused the credentials for user '{camera.username}'"
        in wrong.stdout
    )
