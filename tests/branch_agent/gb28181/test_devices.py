"""Platform settings and the device table's online/offline rules."""

from __future__ import annotations

import pytest

from branch_agent.gb28181.devices import Channel, DeviceTable, GbPlatformConfig, Transport
from branch_agent.gb28181.gb_ids import InvalidGbId

SERVER_ID = "34020000002000000001"
CAMERA = "34020000001320000264"


def test_config_rejects_bad_identities_with_the_key_named() -> None:
    with pytest.raises(InvalidGbId, match="server ID '3402' must be exactly 20 digits"):
        GbPlatformConfig(server_id="3402", domain="3402000000")
    with pytest.raises(InvalidGbId, match="a platform's is 200–299"):
        GbPlatformConfig(server_id=CAMERA, domain="3402000000")
    with pytest.raises(InvalidGbId, match="SIP domain"):
        GbPlatformConfig(server_id=SERVER_ID, domain="34020")
    with pytest.raises(InvalidGbId, match="device ID in passwords"):
        GbPlatformConfig(server_id=SERVER_ID, domain="3402000000", passwords={"cam1": "x"})
    with pytest.raises(ValueError, match="keepalive"):
        GbPlatformConfig(server_id=SERVER_ID, domain="3402000000", keepalive_misses=0)


def test_passwords_never_appear_in_repr() -> None:
    cfg = GbPlatformConfig(
        server_id=SERVER_ID, domain="3402000000", passwords={CAMERA: "s3cret"}, default_password="shared"
    )
    assert "s3cret" not in repr(cfg) and "shared" not in repr(cfg)
    assert cfg.password_for(CAMERA) == "s3cret"
    assert cfg.password_for("34020000001320000001") == "shared"


def test_device_goes_offline_after_missed_keepalives_and_back_on_keepalive() -> None:
    table = DeviceTable()
    table.register(CAMERA, Transport.UDP, ("10.0.0.5", 5060), f"sip:{CAMERA}@10.0.0.5:5060", 3600, now=0.0)
    assert table.expire(now=179.0, keepalive_interval_s=60, misses=3) == []
    [gone] = table.expire(now=181.0, keepalive_interval_s=60, misses=3)
    assert (gone.online, gone.offline_reason) == (False, "3 keepalives missed")
    # Reported once, not at every check.
    assert table.expire(now=200.0, keepalive_interval_s=60, misses=3) == []
    back = table.keepalive(CAMERA, now=210.0)
    # A keepalive proves life, not a new address: only an authenticated REGISTER moves a device.
    assert back is not None and back.online and back.address == ("10.0.0.5", 5060)


def test_registration_lapses_without_refresh() -> None:
    table = DeviceTable()
    table.register(CAMERA, Transport.TCP, ("10.0.0.5", 40000), "", 100, now=0.0)
    table.keepalive(CAMERA, now=90.0)
    [gone] = table.expire(now=101.0, keepalive_interval_s=60, misses=3)
    assert gone.offline_reason == "registration expired"


def test_keepalive_from_unknown_device_changes_nothing() -> None:
    table = DeviceTable()
    assert table.keepalive(CAMERA, now=1.0) is None
    assert table.snapshot() == []


def test_keepalive_after_unregister_or_lapsed_registration_is_refused() -> None:
    table = DeviceTable()
    table.register(CAMERA, Transport.UDP, ("10.0.0.5", 5060), "", 100, now=0.0)
    table.unregister(CAMERA, "unregistered")
    assert table.keepalive(CAMERA, now=1.0) is None
    table.register(CAMERA, Transport.UDP, ("10.0.0.5", 5060), "", 100, now=10.0)
    assert table.keepalive(CAMERA, now=111.0) is None
    assert table.get(CAMERA).last_keepalive is None  # type: ignore[union-attr]


def test_channels_survive_reregistration_until_the_next_catalog() -> None:
    table = DeviceTable()
    assert table.set_channels(CAMERA, (Channel("34020000001320000001"),)) is None  # unknown device
    table.register(CAMERA, Transport.UDP, ("10.0.0.5", 5060), "", 3600, now=0.0)
    channels = (
        Channel("34020000001320000001", name="大厅", status="ON"),
        Channel("34020000001320000002", status="OFF"),
    )
    table.set_channels(CAMERA, channels, (("12", "bad"),), complete=False)
    table.register(CAMERA, Transport.TCP, ("10.0.0.5", 40000), "", 3600, now=10.0)
    record = table.get(CAMERA)
    assert record is not None
    assert record.channels == channels and record.invalid_channels == (("12", "bad"),)
    assert not record.catalog_complete
    assert [c.online for c in record.channels] == [True, False]
