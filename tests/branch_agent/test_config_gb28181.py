"""The [gb28181] section and the gb28181 environment camera: loading, secrets, mistakes named in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from branch_agent.config import Gb28181CameraSection, load_branch_config
from storage.config_file import ConfigError

REPO = Path(__file__).resolve().parents[2]
ENV = 'environment = { kind = "synthetic", width = 1920, height = 1080, fps = 25, label = "环境 ENV" }'
GB_ENV = 'environment = { kind = "gb28181", device_id = "34020000001320000001", channel_id = "34020000001310000001" }'
SECTION = """
[gb28181]
server_id = "34020000002000000001"
domain = "3402000000"
host = "127.0.0.1"
port = 5062
password_env = "GB28181_PASSWORD"
device_password_envs = { "34020000001320000009" = "GB_CAM9_PASSWORD" }
keepalive_interval_s = 30
"""


def _write(tmp_path: Path, section: str = SECTION, environment: str = GB_ENV, extra_counter: str = "") -> Path:
    text = (REPO / "configs" / "branch.example.toml").read_text(encoding="utf-8")
    assert ENV in text
    text = text.replace(ENV, environment).replace("[[counters]]", section + "\n[[counters]]", 1) + extra_counter
    path = tmp_path / "branch.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_section_and_camera_load_and_passwords_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = load_branch_config(_write(tmp_path))
    assert cfg.gb28181 is not None and cfg.gb28181.transports == ["udp", "tcp"]
    cam = cfg.counters[0].environment
    assert isinstance(cam, Gb28181CameraSection)
    assert (cam.media_transport, cam.media_port, cam.media_timeout_s) == ("udp", 0, 10.0)
    monkeypatch.delenv("GB28181_PASSWORD", raising=False)
    monkeypatch.setenv("GB_CAM9_PASSWORD", "nine")
    with pytest.raises(ConfigError, match=r"^set GB28181_PASSWORD: the password of the GB/T 28181 cameras$"):
        cfg.gb28181.platform_config()
    monkeypatch.setenv("GB28181_PASSWORD", "all")
    platform = cfg.gb28181.platform_config()
    assert platform.password_for("34020000001320000009") == "nine"
    assert platform.password_for("34020000001320000001") == "all"
    assert (platform.host, platform.port, platform.keepalive_interval_s, platform.transports) == (
        "127.0.0.1",
        5062,
        30,
        ("udp", "tcp"),
    )
    assert "all" not in repr(platform) and "nine" not in repr(platform)


def test_the_example_documents_the_section(tmp_path: Path) -> None:
    # The commented example, uncommented, is a valid configuration.
    text = (REPO / "configs" / "branch.example.toml").read_text(encoding="utf-8")
    start = text.index("# [gb28181]")
    block = []
    for line in text[start:].splitlines():
        if not line.startswith("# "):
            break
        block.append(line[2:])
    path = _write(tmp_path, section="\n".join(block))
    cfg = load_branch_config(path)
    assert cfg.gb28181 is not None and cfg.gb28181.announce_host == "10.1.2.5"


@pytest.mark.parametrize(
    ("section", "environment", "message"),
    [
        (
            SECTION.replace('"34020000002000000001"', '"3402000000200000001"'),
            GB_ENV,
            "invalid value for 'gb28181.server_id': Value error, server ID '3402000000200000001' must be exactly 20 digits",
        ),
        (
            SECTION.replace('"34020000002000000001"', '"34020000001320000001"'),
            GB_ENV,
            "server ID 34020000001320000001 has type code 132; a platform's is 200-299",
        ),
        (SECTION.replace('"3402000000"', '"34020"'), GB_ENV, "invalid value for 'gb28181.domain'"),
        (SECTION.replace("port = 5062", "port = 70000"), GB_ENV, "invalid value for 'gb28181.port'"),
        (
            SECTION.replace("port = 5062", 'port = 5062\ntransports = ["sctp"]'),
            GB_ENV,
            "invalid value for 'gb28181.transports.0'",
        ),
        (
            SECTION.replace('password_env = "GB28181_PASSWORD"', 'password_env = "secret!"'),
            GB_ENV,
            "invalid value for 'gb28181.password_env'",
        ),
        (
            SECTION.replace('password_env = "GB28181_PASSWORD"\n', "").replace(
                'device_password_envs = { "34020000001320000009" = "GB_CAM9_PASSWORD" }\n', ""
            ),
            GB_ENV,
            "set password_env or device_password_envs: a camera without a password cannot register",
        ),
        (
            SECTION.replace('"34020000001320000009" =', '"cam9" ='),
            GB_ENV,
            "invalid value for 'gb28181.device_password_envs'",
        ),
        (
            SECTION.replace("keepalive_interval_s = 30", "keepalive_pause = 30"),
            GB_ENV,
            "unknown key 'gb28181.keepalive_pause'",
        ),
        ("", GB_ENV, "the environment camera of counter C01 is a gb28181 camera: add a [gb28181] section"),
        (
            SECTION,
            GB_ENV.replace('"34020000001310000001"', '"3402000000131000000X"'),
            "invalid value for 'counters.0.environment.gb28181.channel_id': Value error, channel ID '3402000000131000000X' must be digits only",
        ),
        (SECTION, GB_ENV.replace("channel_id", "channel"), "missing key 'counters.0.environment.gb28181.channel_id'"),
        (
            SECTION,
            GB_ENV.replace(" }", ', media_transport = "tcp" }'),
            "invalid value for 'counters.0.environment.gb28181.media_transport'",
        ),
        (
            SECTION,
            GB_ENV.replace(" }", ", media_port = -1 }"),
            "invalid value for 'counters.0.environment.gb28181.media_port'",
        ),
        (
            SECTION,
            GB_ENV.replace(" }", ", media_timeout_s = 0.5 }"),
            "invalid value for 'counters.0.environment.gb28181.media_timeout_s'",
        ),
    ],
)
def test_mistake_is_named(tmp_path: Path, section: str, environment: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_branch_config(_write(tmp_path, section, environment))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_one_channel_is_one_counters_camera(tmp_path: Path) -> None:
    second = f"""
[[counters]]
code = "C02"
name = "2号柜台"
{GB_ENV}
desk = {{ kind = "synthetic", width = 720, height = 576, fps = 25 }}
microphone = {{ kind = "tone" }}
"""
    with pytest.raises(
        ConfigError,
        match="GB/T 28181 channel 34020000001310000001 of device 34020000001320000001 "
        "is the camera of counters C01 and C02",
    ) as err:
        load_branch_config(_write(tmp_path, extra_counter=second))
    assert "\n" not in str(err.value)


def test_a_gb_camera_may_give_the_counter_its_sound(tmp_path: Path) -> None:
    path = _write(tmp_path)
    text = path.read_text(encoding="utf-8").replace(
        'microphone = { kind = "tone", frequency_hz = 1000 }',
        'microphone = { kind = "camera", camera = "environment" }',
    )
    path.write_text(text, encoding="utf-8")
    assert load_branch_config(path).counters[0].microphone.kind == "camera"
