"""Branch configuration: the examples load; mistakes are named in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from branch_agent.config import load_branch_config
from center_platform.config import load_center_config
from storage.config_file import ConfigError

REPO = Path(__file__).resolve().parents[2]
ENV = 'environment = { kind = "synthetic", width = 1920, height = 1080, fps = 25, label = "环境 ENV" }'


def test_example_and_compose_configs_load() -> None:
    cfg = load_branch_config(REPO / "configs" / "branch.example.toml")
    assert [c.code for c in cfg.counters] == ["C01"]
    assert cfg.counters[0].desk.width == 720 and cfg.counters[0].desk.height == 576
    assert load_branch_config(REPO / "configs" / "compose" / "branch.toml").center.url == "https://center-tls:8443"
    assert load_center_config(REPO / "configs" / "compose" / "center.toml").storage.mode == "external"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('window_start = "19:00"', 'window_start = "7pm"'), "invalid value for 'upload.window_start'"),
        (
            ('kind = "tone"', 'kind = "bluetooth"'),
            "'bluetooth' found using 'kind' does not match any of the expected tags: 'tone', 'alsa', 'camera'",
        ),
        (
            (ENV, 'environment = { kind = "rtsp", url = "rtsp://admin:secret@10.0.0.9/live" }'),
            "the URL carries a password; put it in the variable named by password_env",
        ),
        (
            (ENV, 'environment = { kind = "onvif", host = "10.0.0.9", stream = "big" }'),
            "invalid value for 'counters.0.environment.onvif.stream'",
        ),
        ((ENV, 'environment = { kind = "file", path = "no-such-clip.mp4" }'), "no such file"),
        (
            ('microphone = { kind = "tone", frequency_hz = 1000 }', 'microphone = { kind = "camera" }'),
            "microphone kind 'camera' takes the sound of the environment camera, but a synthetic camera has no sound",
        ),
        (('kind = "synthetic", width = 720', 'kind = "v4l2", width = 720'), "unknown key 'counters.0.desk.v4l2.label'"),
        (("[recorder]", "[recorder]\nbitrate = 4000"), "unknown key 'recorder.bitrate'"),
        (('code = "B001"', 'code = "B 001"'), "invalid value for 'branch.code'"),
    ],
)
def test_mistake_is_named(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    text = (REPO / "configs" / "branch.example.toml").read_text(encoding="utf-8")
    assert change[0] in text
    path = tmp_path / "branch.toml"
    path.write_text(text.replace(change[0], change[1], 1), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_branch_config(path)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_camera_password_comes_from_the_environment_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from branch_agent.counter.sources import build_sources

    text = (REPO / "configs" / "branch.example.toml").read_text(encoding="utf-8")
    path = tmp_path / "branch.toml"
    camera = 'environment = { kind = "rtsp", url = "rtsp://10.0.0.9/live", username = "admin", password_env = "C01_ENV_PASSWORD" }'
    path.write_text(text.replace(ENV, camera), encoding="utf-8")
    cfg = load_branch_config(path)
    monkeypatch.delenv("C01_ENV_PASSWORD", raising=False)
    with pytest.raises(
        ConfigError, match="set C01_ENV_PASSWORD: the password of the environment camera of counter C01"
    ):
        build_sources(cfg, cfg.counters[0])
    monkeypatch.setenv("C01_ENV_PASSWORD", "s3cret/+")
    sources = build_sources(cfg, cfg.counters[0])
    health = sources.environment.health()
    assert health.kind == "rtsp" and not health.connected and "s3cret" not in repr(health)
